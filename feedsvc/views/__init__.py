"""The web layer: one module per family of routes, and the kit they all share.

``kit`` is what every view needs; ``feeds``, ``pages`` and ``embeds`` hold routes
and never import each other; ``errors`` holds the app-wide handlers.
"""
