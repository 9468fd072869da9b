"""Conditional GETs (RFC 9110 §13.1.2): does `If-None-Match` name the entity tag we hold."""


def entity_tag_matches(etag: str, if_none_match: str | None) -> bool:
    """Weak comparison against a list of entity tags, or `*`."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
