// Read feeds as JavaScript feed readers do, and print what they saw as JSON.
//
//   node tests/readers/read.mjs BASE_URL PATH...
//
// RSS and Atom go through rss-parser and feed-extractor (what the reader apps built on
// them show), JSON Feed through feed-extractor and JSON.parse, and the OPML and the
// channel-level elements those parsers do not surface through xml2js.
import Parser from "rss-parser";
import { extractFromJson, extractFromXml } from "@extractus/feed-extractor";
import xml2js from "xml2js";

const [base, ...paths] = process.argv.slice(2);
const parser = new Parser();
const seen = {};

for (const path of paths) {
  const response = await fetch(base + path);
  const body = await response.text();
  const report = { status: response.status, type: response.headers.get("content-type") };
  if (path.endsWith(".rss") || path.includes(".rss?") || path.endsWith(".atom") || path.includes(".atom?")) {
    const feed = await parser.parseString(body);
    report.rssParser = {
      title: feed.title,
      link: feed.link,
      feedUrl: feed.feedUrl,
      image: feed.image ?? null,
      items: feed.items.map((item) => ({
        title: item.title,
        link: item.link,
        creator: item.creator ?? null,
        author: item.author ?? null,
        content: item["content:encoded"] ?? item.content ?? null,
        summary: item.summary ?? item.contentSnippet ?? null,
        snippet: item.contentSnippet ?? null,
      })),
    };
    const extracted = extractFromXml(body, { descriptionMaxLen: 0 });
    report.feedExtractor = {
      title: extracted.title,
      link: extracted.link,
      entries: extracted.entries.length,
      items: extracted.entries.map((entry) => ({ title: entry.title, description: entry.description })),
    };
    const root = await xml2js.parseStringPromise(body);
    if (root.feed) {
      report.atom = {
        links: root.feed.link.map((link) => link.$),
        icon: root.feed.icon?.[0] ?? null,
        logo: root.feed.logo?.[0] ?? null,
      };
    }
  } else if (path.includes(".json")) {
    const document = JSON.parse(body);
    const extracted = extractFromJson(document);
    report.feedExtractor = {
      title: extracted.title,
      link: extracted.link,
      entries: extracted.entries.length,
      items: extracted.entries.map((entry) => ({ title: entry.title, description: entry.description })),
    };
    report.json = document;
  } else if (path.includes(".opml")) {
    const root = await xml2js.parseStringPromise(body);
    const folders = root.opml.body[0].outline;
    report.opml = folders.map((folder) => ({
      text: folder.$.text,
      feeds: (folder.outline ?? []).map((outline) => outline.$),
    }));
  }
  seen[path] = report;
}
console.log(JSON.stringify(seen));
