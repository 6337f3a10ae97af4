vcl 4.1;
# feedsvc behind Varnish 7 with the xkey vmod (Debian: apt-get install varnish
# varnish-modules). Every cacheable answer of feedsvc names the scopes it is made
# from in an `xkey` header (see the README's "Shared caches and WebSub"); the
# service sends `PURGE` with an `xkey-purge` header for each change, so copies are
# kept for the shared lifetime (`s-maxage`) and dropped the moment they go stale.
#
# Edit only the lines between BEGIN and END deployment: your origins and the
# addresses allowed to purge (those of the origins).

import directors;
import std;
import xkey;

# BEGIN deployment
probe feedsvc_health {
    .url = "/healthz";
    .interval = 2s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
}

backend origin1 {
    .host = "127.0.0.1";
    .port = "8000";
    .probe = feedsvc_health;
}

# backend origin2 {
#     .host = "10.0.0.12";
#     .port = "8000";
#     .probe = feedsvc_health;
# }

sub vcl_init {
    new origins = directors.round_robin();
    origins.add_backend(origin1);
    # origins.add_backend(origin2);
}

acl purgers {
    "127.0.0.1";
    "::1";
}
# END deployment

sub vcl_recv {
    set req.backend_hint = origins.backend();
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "PURGE is not allowed from this address"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "PURGE needs an xkey-purge header"));
        }
        return (synth(200, "Purged " + xkey.purge(req.http.xkey-purge)));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        # OPTIONS preflights, and anything else: the origin answers (405 for the unknown).
        return (pass);
    }
    # With an origin up, never an expired copy; with every origin down, up to the grace.
    if (std.healthy(req.backend_hint)) {
        set req.grace = 0s;
    }
    # feedsvc sets no cookie and reads none: another application's cookie on the same
    # host must not make every request a miss. Nothing it serves is private.
    unset req.http.Cookie;
    # One variant per content coding, chosen as the origin chooses (br, then gzip, then
    # identity). Varnish would rewrite Accept-Encoding to gzip after vcl_recv and
    # gunzip for plain clients; each coding is stored as the origin sent it instead
    # (brotli and gzip kept apart, plain stored plain: no compression on a hit).
    # With q-values, the origin reads the header itself and its exact value keys the copy.
    if (!req.http.Accept-Encoding) {
        set req.http.X-Feedsvc-Coding = "identity";
    } elsif (req.http.Accept-Encoding ~ ";") {
        set req.http.X-Feedsvc-Coding = req.http.Accept-Encoding;
    } elsif (req.http.Accept-Encoding ~ "(?i)(^|[\s,])(br|\*)\s*($|,)") {
        set req.http.X-Feedsvc-Coding = "br";
    } elsif (req.http.Accept-Encoding ~ "(?i)(^|[\s,])(x-)?gzip\s*($|,)") {
        set req.http.X-Feedsvc-Coding = "gzip";
    } else {
        set req.http.X-Feedsvc-Coding = "identity";
    }
    return (hash);
}

sub vcl_hash {
    # Not the Host: feedsvc builds every link on its base URL, whatever the Host says.
    hash_data(req.url);
    hash_data(req.http.X-Feedsvc-Coding);
    return (lookup);
}

sub vcl_backend_fetch {
    if (bereq.http.X-Feedsvc-Coding == "identity") {
        unset bereq.http.Accept-Encoding;
    } elsif (bereq.http.X-Feedsvc-Coding) {
        set bereq.http.Accept-Encoding = bereq.http.X-Feedsvc-Coding;
    }
    unset bereq.http.X-Feedsvc-Coding;
}

sub vcl_backend_response {
    if (beresp.status >= 500 && bereq.retries < 1 && bereq.method == "GET") {
        return (retry);  # an origin starting or failing: another one may answer
    }
    if (!beresp.http.xkey) {
        # No keys, so no purge could reach it: errors, redirects, /healthz.
        set beresp.uncacheable = true;
        set beresp.ttl = 1s;
        return (deliver);
    }
    # The lifetime is the origin's s-maxage (clipped at its next scheduled article);
    # the grace serves the last copy only while every origin is down (see vcl_recv).
    set beresp.grace = 6h;
    # Once per fetch, not per hit: what downstream caches get (no s-maxage: nothing
    # purges them) and the browsers' max-age; other caches' key headers go.
    set beresp.http.Cache-Control = regsub(beresp.http.Cache-Control, ",\s*s-maxage=\d+", "");
    set beresp.http.X-Feedsvc-Max-Age = regsub(beresp.http.Cache-Control, "^.*max-age=(\d+).*$", "\1s");
    unset beresp.http.Surrogate-Key;
    unset beresp.http.Cache-Tag;
    return (deliver);
}

sub vcl_backend_error {
    if (bereq.retries < 1) {
        return (retry);  # an origin that went away: the director picks another
    }
}

sub vcl_deliver {
    if (obj.uncacheable) {
        set resp.http.X-Cache = "PASS";
    } elsif (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    if (resp.http.xkey) {
        unset resp.http.xkey;
        # Browsers get the origin's max-age from now, never past what this copy has
        # left (its next scheduled article): no Age, which would count our keeping.
        if (obj.ttl <= 0s) {
            set resp.http.Cache-Control = "public, max-age=0";
        } elsif (obj.ttl < std.duration(resp.http.X-Feedsvc-Max-Age, 0s)) {
            set resp.http.Cache-Control = "public, max-age=" + std.integer(duration=obj.ttl, fallback=0);
        }
        unset resp.http.X-Feedsvc-Max-Age;
        unset resp.http.Age;
    }
}
