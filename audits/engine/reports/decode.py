"""Turn uploaded bytes into clean text, whatever encoding they arrived in.

Reports travel through e-mail, wikis and Windows or old Mac editors, so
besides UTF-8 they come as UTF-16, cp1252, or UTF-8 that was once read as
cp1252, Latin-1 or Mac Roman and saved again (mojibake such as ``â€”`` or
``‚Äî`` for an em dash). All are repaired here.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from .types import ReportError

DEFAULT_MAX_BYTES = 5 * 1024 * 1024

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# cp1252 leaves five bytes undefined; Windows tools map them to the C1
# control with the same number, so the reverse map treats them alike.
_CP1252_TO_BYTE: dict[str, int] = {}
for _byte in range(0x80, 0x100):
    try:
        _CP1252_TO_BYTE[bytes([_byte]).decode("cp1252")] = _byte
    except UnicodeDecodeError:
        _CP1252_TO_BYTE[chr(_byte)] = _byte

# Latin-1 readers turn 0x80-0x9F into C1 controls rather than cp1252's
# punctuation; both spellings map back to the byte.
for _byte in range(0x80, 0xA0):
    _CP1252_TO_BYTE.setdefault(chr(_byte), _byte)
_MAC_TO_BYTE: dict[str, int] = {
    bytes([_byte]).decode("mac_roman"): _byte for _byte in range(0x80, 0x100)
}


def _run_pattern(chars: dict[str, int]) -> re.Pattern[str]:
    return re.compile("[" + re.escape("".join(sorted(chars))) + "]{2,}")


_MOJIBAKE_RUN = _run_pattern(_CP1252_TO_BYTE)
_MAC_RUN = _run_pattern(_MAC_TO_BYTE)
# Mac Roman shares its accented letters with real text, so its repair runs
# only where a sequence no writer types shows up: a Mac-read em dash, quote,
# bullet, "é" or emoji.
_MAC_EVIDENCE = re.compile(
    "\u201a\u00c4[\u00ee\u00f4\u00ec\u00f9\u00fa\u00a2\u00b6\u00f2]"
    "|\u221a[\u00a9\u00ae\u00a7\u2020\u00b0\u00df\u00b6\u00fc\u00e2]"
    "|\uf8ff\u00fc"
)
# Editors that turn a no-break space into a plain one break the orange and
# yellow circles' last byte; put it back before repairing.
_BROKEN_CIRCLE = re.compile("(\u00f0\u0178\u0178)[ ](?=[ \\w])")
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")


def human_size(size: int) -> str:
    """Return ``size`` in bytes as a short human-readable string."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.3g} KB"
    return f"{size} bytes"


def check_size(size: int, max_bytes: int) -> None:
    """Raise ReportError when ``size`` exceeds ``max_bytes``."""
    if size > max_bytes:
        raise ReportError(
            f"The file is {human_size(size)}, over the size limit of "
            f"{human_size(max_bytes)}; split it or raise the limit."
        )


def decode_text(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Return ``data`` decoded, repaired, with LF line endings and no BOM.

    Raise ReportError for empty, over-size or binary input.
    """
    check_size(len(data), max_bytes)
    if not data.strip():
        raise ReportError("The file is empty.")
    text = _decode(data)
    if text.startswith("\ufeff"):
        text = text[1:]
    text = repair_mojibake(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    _refuse_binary(text)
    if not text.strip():
        raise ReportError("The file is empty.")
    return text


def _decode(data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise ReportError(
                    f"The file starts with a {encoding.upper()} byte-order mark "
                    f"but is not valid {encoding.upper()} text."
                ) from exc
    utf16 = _sniff_utf16(data)
    if utf16:
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise ReportError(
            "The file looks binary (it contains NUL bytes); upload a Markdown "
            "report or a SARIF file."
        )
    # Decode UTF-8 where it is valid and fall back to cp1252 byte by byte,
    # because files edited on Windows often mix the two.
    text = data.decode("utf-8", errors="surrogateescape")
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return "".join(
        _decode_cp1252_byte(ord(ch) - 0xDC00) if "\udc80" <= ch <= "\udcff" else ch
        for ch in text
    )


def _decode_cp1252_byte(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)


def _sniff_utf16(data: bytes) -> str:
    sample = data[:4096]
    if len(sample) < 4:
        return ""
    even_zero = sample[0::2].count(0)
    odd_zero = sample[1::2].count(0)
    half = len(sample) / 2
    # ASCII-heavy UTF-16 has a zero in every other byte.
    if odd_zero > 0.4 * half and even_zero < 0.05 * half:
        return "utf-16-le"
    if even_zero > 0.4 * half and odd_zero < 0.05 * half:
        return "utf-16-be"
    return ""


def repair_mojibake(text: str) -> str:
    """Return ``text`` with UTF-8 read as cp1252, Latin-1 or Mac Roman turned back.

    Only runs of characters that re-encode to valid multi-byte UTF-8 are
    changed, so genuine accented text is left alone. Text that went through
    the round trip twice is repaired twice.
    """
    text = _BROKEN_CIRCLE.sub("\\1\u00a0", text)
    for _ in range(3):
        repaired = _MOJIBAKE_RUN.sub(_repair_cp1252, text)
        if _MAC_EVIDENCE.search(repaired):
            repaired = _MAC_RUN.sub(_repair_mac, repaired)
        if repaired == text:
            break
        text = repaired
    return text


def _repair_cp1252(match: re.Match[str]) -> str:
    return _repair_run(match.group(0), _CP1252_TO_BYTE)


def _repair_mac(match: re.Match[str]) -> str:
    return _repair_run(match.group(0), _MAC_TO_BYTE)


def _repair_run(run: str, table: dict[str, int]) -> str:
    raw = bytes(table[ch] for ch in run)
    out: list[str] = []
    i = 0
    while i < len(raw):
        length = _utf8_length(raw[i])
        if length > 1 and i + length <= len(raw):
            try:
                out.append(raw[i : i + length].decode("utf-8"))
            except UnicodeDecodeError:
                pass
            else:
                i += length
                continue
        out.append(run[i])
        i += 1
    return "".join(out)


def _utf8_length(lead: int) -> int:
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 1


def _refuse_binary(text: str) -> None:
    sample = text[:65536]
    bad = sum(
        1
        for ch in sample
        if ch == "\ufffd"
        or (unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS)
    )
    if bad > max(2, len(sample) // 100):
        raise ReportError(
            "The file does not look like text (too many control characters); "
            "upload a Markdown report or a SARIF file."
        )
