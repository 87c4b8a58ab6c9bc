"""User-agent → `$browser` / `$browser_version`, as Segment's "Mixpanel (Actions)" does it.

reference/mixpanel.md §2.2 (AD `MP/common/utils.ts`): the first matching rule wins; the version
is the first "dotted number" (digits with at least one `.part`) after the rule's marker.
"""

from __future__ import annotations

import re
from functools import lru_cache

_DOTTED = r"(\d+(?:\.\d+)+)"


def _version_re(*markers: str) -> re.Pattern[str]:
    return re.compile("(?:" + "|".join(re.escape(m) for m in markers) + ")" + _DOTTED)


_BLACKBERRY = re.compile(r"BlackBerry|PlayBook|BB10", re.IGNORECASE)

# Browser name → where its version is read; a name absent here never gets a version. As in AD's
# `versionRegexs`, "Opera Mini" and "Facebook Mobile" have no entry; the earliest marker wins.
_VERSIONS: dict[str, re.Pattern[str]] = {
    "Opera": _version_re("OPR/", "Opera/"),
    "BlackBerry": _version_re("BlackBerry "),
    "Internet Explorer Mobile": _version_re("rv:"),
    "Samsung Internet": _version_re("SamsungBrowser/"),
    "Microsoft Edge": _version_re("Edge/", "Edg/"),
    "Chrome": _version_re("Chrome/"),
    "Chrome iOS": _version_re("CriOS/"),
    "UC Browser": _version_re("UCBrowser/", "UCWEB/"),
    "Firefox iOS": _version_re("FxiOS/"),
    "Mobile Safari": _version_re("Version/"),
    "Safari": _version_re("Version/"),
    "Android Mobile": _version_re("android "),
    "Konqueror": _version_re("Konqueror:"),
    "Firefox": _version_re("Firefox/"),
    "Internet Explorer": _version_re("rv:", "MSIE "),
    "Mozilla": _version_re("rv:"),
}


def browser_name(ua: str) -> str:
    """The `$browser` value for a user agent: `""` when no rule matches."""
    result = ""
    if " OPR/" in ua:
        result = "Opera Mini" if "Mini" in ua else "Opera"
    elif _BLACKBERRY.search(ua):
        result = "BlackBerry"
    elif "IEMobile" in ua or "WPDesktop" in ua:
        result = "Internet Explorer Mobile"
    elif "SamsungBrowser/" in ua:
        result = "Samsung Internet"
    elif "Edge" in ua or "Edg/" in ua:
        result = "Microsoft Edge"
    elif "FBIOS" in ua:
        result = "Facebook Mobile"
    else:
        result = _later_rules(ua)
    return result


def _later_rules(ua: str) -> str:
    for marker, name in (("Chrome", "Chrome"), ("CriOS", "Chrome iOS")):
        if marker in ua:
            return name
    if "UCWEB" in ua or "UCBrowser" in ua:
        return "UC Browser"
    if "FxiOS" in ua:
        return "Firefox iOS"
    if "Safari" in ua:
        return "Mobile Safari" if "iPhone" in ua else "Safari"
    for marker, name in (
        ("Android", "Android Mobile"),
        ("Konqueror", "Konqueror"),
        ("Firefox", "Firefox"),
    ):
        if marker in ua:
            return name
    if "MSIE" in ua or "Trident/" in ua:
        return "Internet Explorer"
    if "Gecko" in ua:
        return "Mozilla"
    return ""


@lru_cache(maxsize=4096)
def parse_user_agent(ua: str) -> tuple[str, str | None]:
    """`($browser, $browser_version)`; the version is None when the rule has none or no match.

    A backfill sees the same few thousand agents millions of times: results are cached.
    """
    name = browser_name(ua)
    pattern = _VERSIONS.get(name)
    if pattern is None:
        return name, None
    match = pattern.search(ua)
    return name, (match.group(1) if match else None)
