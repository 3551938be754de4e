"""Plausible ids and permalinks the emulated platforms hand back after a publish."""

from __future__ import annotations

from .ids import digits, shortcode
from .models import Destination


def published_ids(destination: Destination) -> tuple[str, str]:
    """(externalId, externalUrl) of a synchronous publish on the destination's channel."""
    handle = destination.extras.get("username") or destination.account_id
    match destination.channel:
        case "facebook":
            page_id = destination.extras.get("pageId") or destination.account_id
            post_number = digits(16)
            return f"{page_id}_{post_number}", f"https://www.facebook.com/{page_id}/posts/{post_number}"
        case "instagram":
            return digits(17), f"https://www.instagram.com/p/{shortcode()}/"
        case "threads":
            return digits(17), f"https://www.threads.net/@{handle}/post/{shortcode()}"
        case "linkedin":
            urn = f"urn:li:share:{digits(19)}"
            return urn, f"https://www.linkedin.com/feed/update/{urn}"
        case _:  # tiktok: the public video id once TikTok reports the post live
            video_id = digits(19)
            return video_id, f"https://www.tiktok.com/@{handle}/video/{video_id}"


def tiktok_publish_id(direct_post: bool) -> str:
    """The publish_id TikTok returns at hand-off (inbox uploads and Direct Posts look different)."""
    return f"{'v_pub_file' if direct_post else 'v_inbox_file'}~v2.{digits(19)}"
