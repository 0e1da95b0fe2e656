"""Parse Java stack traces out of CloudStack log records, fingerprint them, link masks.

A record's ``text`` (header line + continuation lines joined by ``"\\n"``) can hold a trace
in several shapes (``cloudstack-log-formats.md`` §5.1):

* log4j 1 (≤ 4.19): the exception line is the first continuation line, frames follow;
* log4j 2 (4.20+): ``%ex`` starts the exception on the header line, after the message;
* frames indented by a tab or by spaces, ``Caused by:`` / ``Wrapped by:`` chains,
  ``Suppressed:`` blocks, ``... N more``, ``... suppressed N lines``;
* a trace escaped in a JSON string of an agent ``Answer`` (``"details":"java.lang…\\n\\tat …"``);
* an exception named inline in a message, without frames;
* fragments that start mid-trace (an orphan block of ``at`` lines).

Usage::

    by_fingerprint: Counter[str] = Counter()
    for trace in parse_traces(record.text):
        by_fingerprint[trace.fingerprint] += 1   # + trace.chain, trace.first_app_frame

``link_masks`` finds the failure-handler exception that hid the first one (the 2013
incident: an NPE in ``cleanupVMNetworks`` masked the ``IndexOutOfBoundsException`` thrown by
``createVbd``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from .models import Record

__all__ = [
    "APP_PREFIXES",
    "MaskLink",
    "StackFrame",
    "StackTrace",
    "ThrownException",
    "TraceOccurrence",
    "describe_mask",
    "iter_trace_occurrences",
    "link_masks",
    "message_template",
    "parse_traces",
]

#: Class-name prefixes of CloudStack's own code ("in-application" frames).
APP_PREFIXES = ("com.cloud.", "org.apache.cloudstack.")

UNKNOWN = "<unknown>"

# Frames that say nothing about *where* the failure is and differ between JVMs, proxies
# and renderers (log4j 2 filters net.sf.cglib.proxy; CglibThrowableRenderer drops
# <generated> files and invokeSuper), so the fingerprint ignores them.
_NOISE_PREFIXES = (
    "sun.reflect.",
    "jdk.internal.",
    "java.lang.reflect.",
    "java.lang.invoke.",
    "net.sf.cglib.",
    "org.springframework.cglib.",
    "com.sun.proxy.",
)
_NOISE_PARTS = (
    "$$EnhancerByCGLIB$$",
    "$$EnhancerBySpringCGLIB$$",
    "$$FastClassByCGLIB$$",
    "$Proxy",
    "GeneratedMethodAccessor",
    "GeneratedConstructorAccessor",
    "$$Lambda",
)
_FINGERPRINT_FRAMES = 5
_FINGERPRINT_LEN = 16
# How many lines of a multi-line exception message (qemu/libvirt output) may sit between
# the exception line and its first frame.
_MSG_LOOKAHEAD = 40
# link_masks: at most this many later occurrences are inspected per occurrence and key.
_MASK_SCAN = 16

_SUFFIXES = ("Exception", "Error", "Throwable")
_FQCN = r"(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*"

# `at <frame>`; `[^\s()]+` is greedy, so the class/method split is at the last dot before
# `(`. A log4j 2 `%xEx` jar suffix (` ~[cloud-core.jar:?]`) may follow.
_FRAME_RE = re.compile(
    r"at\s+(?P<q>[A-Za-z_$][^\s()]*)\.(?P<m>[^\s().]+)\s*\((?P<loc>[^()]*)\)"
    r"\s*(?:~?\[[^\]]*\]\s*)?$"
)
# A module or class-loader segment of a Java 9+ frame: `java.base`, `app`, `foo@1.2`.
_MODSEG_RE = re.compile(r"[\w.\-]*(?:@[\w.\-+]*)?")
_MORE_RE = re.compile(r"\.\.\.\s*(\d+)\s+(?:more|common frames omitted)\b")
_SUPPLINES_RE = re.compile(r"\.\.\.\s*suppressed\s+(\d+)\s+lines?\b")
# A whole (stripped) line naming an exception: `java.lang.X` or `java.lang.X: message`.
_CAPTION_RE = re.compile(rf"({_FQCN})(:.*)?$")
# After `Caused by:` a class without package is accepted too.
_LOOSE_CAPTION_RE = re.compile(r"([A-Za-z_$][\w$.]*)(:.*)?$")
# log4j 2 `%ex` on the header line: ` <FQCN>(Exception|Error|Throwable)(: …)?` at the end.
_EMBEDDED_RE = re.compile(
    r"(?<!\S)((?:[A-Za-z_$][\w$]*\.)+[\w$]*(?:Exception|Error|Throwable))(:.*)?\s*$"
)
# An exception named inside a message: a proper FQCN (lower-case packages, capitalised
# class, optional nested classes) ending in Exception/Error, not glued to other text.
_INLINE_RE = re.compile(
    r"(?<![^\s(=,;:])((?:[a-z][a-z0-9_]*\.)+(?:[A-Z][A-Za-z0-9_]*\$)*[A-Z][A-Za-z0-9_]*"
    r"(?:Exception|Error))(?![\w$.])(?::\s*(.*))?"
)
# JSON: a string whose value is an escaped frame list, or that starts with an exception.
_JSON_FRAME_RE = re.compile(r"\\n(?:\\t|[ ]+)at ")
_JSON_EXC_RE = re.compile(
    r'"(?=(?:[A-Za-z_$][\w$]*\.)+[\w$]*(?:Exception|Error|Throwable)(?:[:"]|\\[nrt]))'
)
_JSON_BODY_RE = re.compile(r'(?:[^"\\]+|\\.)*')
_JSON_DECODER = json.JSONDecoder(strict=False)
_ANON_RE = re.compile(r"\$\d+")

_TEMPLATE_RES = (
    re.compile(r'"(?:[^"\\\n]|\\.)*"|(?<!\w)\'[^\'\n]*\'(?!\w)'),
    re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    re.compile(r"\b[a-z]-\d+(?:-\d+)?-VM\b"),
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),
    re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?!\w)"),
)

# Line kinds.
_OTHER, _FRAME, _MORE, _SUPPLINES, _ELISION, _CAUSED, _WRAPPED, _SUPPRESSED = range(8)


@dataclass(frozen=True, slots=True)
class StackFrame:
    """One ``at`` line.

    ``module`` is the Java 9+ module prefix (``java.base``) when printed, else None.
    ``file``/``line`` are None for ``(Native Method)`` and ``(Unknown Source)``.
    """

    cls: str
    method: str
    file: str | None
    line: int | None
    module: str | None

    @property
    def is_app(self) -> bool:
        """Whether the frame is CloudStack code (not a proxy or generated class)."""
        return self.cls.startswith(APP_PREFIXES) and not _is_noise(self)


@dataclass(frozen=True, slots=True)
class ThrownException:
    """One exception of a trace: the top one, a ``Caused by:`` or a ``Suppressed:``.

    ``more`` is the ``... N more`` count, ``suppressed_lines`` the sum of log4j 2's
    ``... suppressed N lines``. ``causes`` is only filled for suppressed exceptions (their own
    ``Caused by:`` chain); the main chain is flat in ``StackTrace.causes``.
    """

    exception: str
    message: str | None
    frames: tuple[StackFrame, ...]
    more: int | None
    suppressed_lines: int
    suppressed: tuple[ThrownException, ...]
    causes: tuple[ThrownException, ...] = ()


@dataclass(frozen=True, slots=True)
class StackTrace:
    """A Java trace found in a record.

    ``exception``/``message``/``frames`` are the outermost exception's, ``causes`` the
    ``Caused by:`` chain top → root. ``origin`` is ``continuation`` (log4j 1 lines after the
    header, or a fragment), ``header`` (log4j 2, starts on the header line), ``json`` (escaped
    in a JSON string) or ``inline`` (named in a message, no frames). ``line_offset`` is the
    0-based index in the record text of the line where it starts. The last three fields
    belong to the outermost exception as well.
    """

    exception: str
    message: str | None
    frames: tuple[StackFrame, ...]
    causes: tuple[ThrownException, ...]
    root_cause: str
    root_message: str | None
    fingerprint: str
    origin: str
    line_offset: int
    more: int | None = None
    suppressed_lines: int = 0
    suppressed: tuple[ThrownException, ...] = ()

    @property
    def chain(self) -> tuple[str, ...]:
        """Exception class names from the outermost to the root cause."""
        return (self.exception, *(c.exception for c in self.causes))

    @property
    def first_app_frame(self) -> StackFrame | None:
        """First CloudStack frame (outermost exception first), else the first frame."""
        first: StackFrame | None = None
        for frames in (self.frames, *(c.frames for c in self.causes)):
            for frame in frames:
                if frame.is_app:
                    return frame
                if first is None:
                    first = frame
        return first


@dataclass(frozen=True, slots=True)
class TraceOccurrence:
    """A trace with the record context ``link_masks`` needs (``line`` is the trace's line)."""

    source: str
    line: int
    timestamp: str | None
    host: str
    thread: str | None
    seq: str | None
    logid: str | None
    trace: StackTrace


@dataclass(frozen=True, slots=True)
class MaskLink:
    """``masking_index`` was thrown while handling ``primary_index`` and hid it."""

    primary_index: int
    masking_index: int
    reason: str


# --------------------------------------------------------------------------- parsing


class _Block:
    """Mutable exception while its lines are read."""

    __slots__ = ("cls", "frames", "more", "msg", "relation", "supp_lines", "suppressed")

    def __init__(self, cls: str, msg: str | None, relation: str) -> None:
        self.cls = cls
        self.msg: list[str] = [] if msg is None else [msg]
        self.relation = relation
        self.frames: list[StackFrame] = []
        self.more: int | None = None
        self.supp_lines = 0
        self.suppressed: list[_Chain] = []


class _Chain:
    """Blocks printed at one indentation: an exception and its ``Caused by:``s."""

    __slots__ = ("blocks", "width")

    def __init__(self, width: int, first: _Block) -> None:
        self.width = width
        self.blocks = [first]


def parse_traces(text: str) -> list[StackTrace]:
    """Find every Java stack trace in one record's text.

    :param text: the record text (header line and continuation lines joined by ``"\\n"``).
    :returns: the traces in order of their first line; ``[]`` when there is none.

    Never raises on malformed input: a frame list without its exception line becomes an
    exception named ``<unknown>``.
    """
    # Hot path: most records of a multi-GB log name no exception at all. Substring tests
    # beat one regex alternation (STYLE 2.11); a frame without an exception name can only
    # be in a fragment, which is multi-line or starts indented, so single-line records
    # (often KBs of command JSON) skip those two scans.
    if not (
        "Exception" in text
        or "Error" in text
        or "Throwable" in text
        or (("\n" in text or text[:1] in (" ", "\t")) and ("\tat " in text or "    at " in text))
    ):
        return []
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return _parse_lines(text.split("\n"), nested=False)


def _parse_lines(lines: list[str], nested: bool) -> list[StackTrace]:
    """Parse lines; ``nested`` is set for decoded JSON strings (no JSON, no inline)."""
    traces: list[StackTrace] = []
    inline: list[StackTrace] = []
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        s = line.strip()
        if not s:
            i += 1
            continue
        kind = _kind(s)
        if kind == _ELISION:
            i += 1
            continue
        if kind != _OTHER:
            # A fragment that starts mid-trace: keep it under an unknown exception.
            root = _Block(UNKNOWN, None, "top")
            chain, i_end = _read_body(lines, i, root, 0, fresh=False)
            traces.append(_build(chain, "continuation", i))
            i = i_end
            continue
        caption = _opening(lines, i, s)
        if caption is not None:
            root = _Block(caption[0], caption[1], "top")
            chain, i_end = _read_body(lines, i + 1, root, _width(line), fresh=True)
            traces.append(_build(chain, "continuation", i))
            i = i_end
            continue
        has_word = "Exception" in line or "Error" in line or "Throwable" in line
        if has_word and _find_structural(lines, i + 1) >= 0:
            m = _EMBEDDED_RE.search(line)
            if m is not None:
                root = _Block(m.group(1), _caption_message(m.group(2)), "top")
                chain, i_end = _read_body(lines, i + 1, root, 0, fresh=True)
                traces.append(_build(chain, "header" if i == 0 else "continuation", i))
                i = i_end
                continue
        if not nested and has_word:
            found = _json_traces(line, i) if '"' in line else []
            if found:
                traces.extend(found)
            elif s[0] != "<":
                trace = _inline_trace(line, i)
                if trace is not None:
                    inline.append(trace)
        i += 1
    if inline:
        # An exception already seen with frames is not repeated as a mention.
        named = {c for t in traces for c in t.chain}
        traces.extend(t for t in inline if t.exception not in named)
        traces.sort(key=lambda t: t.line_offset)
    return traces


def _kind(s: str) -> int:
    """Classify a stripped line."""
    c = s[0]
    if c == "a":
        if s.startswith("at "):
            if _parse_frame(s) is not None:
                return _FRAME
            if s[3:].strip() in ("…", "..."):
                return _ELISION
        return _OTHER
    if c == "." or c == "…":
        if _MORE_RE.match(s):
            return _MORE
        if _SUPPLINES_RE.match(s):
            return _SUPPLINES
        if not s.strip(".… "):
            return _ELISION
        return _OTHER
    if c == "C" and s.startswith("Caused by:"):
        return _CAUSED
    if c == "W" and s.startswith("Wrapped by:"):
        return _WRAPPED
    if c == "S" and s.startswith("Suppressed:"):
        return _SUPPRESSED
    return _OTHER


def _width(line: str) -> int:
    """Indentation in columns, a tab counting as 8 (tab and 8-space traces compare equal)."""
    ws = line[: len(line) - len(line.lstrip())]
    return len(ws) + 7 * ws.count("\t")


def _caption(s: str) -> tuple[str, str | None] | None:
    """Split a stripped ``<fqcn>[: message]`` line, or None."""
    if not (s[0].isalpha() or s[0] in "_$"):
        return None
    m = _CAPTION_RE.match(s)
    if m is None:
        return None
    return m.group(1), _caption_message(m.group(2))


def _caption_message(rest: str | None) -> str | None:
    if not rest:
        return None
    msg = rest[1:]
    if msg.startswith(" "):
        msg = msg[1:]
    msg = msg.rstrip()
    return msg or None


def _opening(lines: list[str], j: int, s: str) -> tuple[str, str | None] | None:
    """The exception a stripped line ``s`` (``lines[j]``) opens, or None.

    ``…Exception``/``…Error``/``…Throwable`` classes count without frames (a bare
    ``java.lang.NullPointerException`` after ``Caught:``); other names (``Types$BadServerResponse``)
    only when a trace line follows.
    """
    cap = _caption(s)
    if cap is not None and (cap[0].endswith(_SUFFIXES) or _next_is_structural(lines, j + 1)):
        return cap
    return None


def _next_is_structural(lines: list[str], j: int) -> bool:
    while j < len(lines):
        s = lines[j].strip()
        if s:
            return _kind(s) != _OTHER
        j += 1
    return False


def _find_structural(lines: list[str], j: int) -> int:
    """Index of the next trace line within the message look-ahead, or -1.

    Stops at another exception line: message text never runs into a second exception.
    """
    stop = min(len(lines), j + _MSG_LOOKAHEAD)
    while j < stop:
        s = lines[j].strip()
        if s:
            if _kind(s) != _OTHER:
                return j
            if _opening(lines, j, s) is not None:
                return -1
        j += 1
    return -1


def _read_body(
    lines: list[str], j: int, root: _Block, width: int, fresh: bool
) -> tuple[_Chain, int]:
    """Read trace lines from ``j``; return the root chain and the first line after it."""
    top = _Chain(width, root)
    stack = [top]
    # The newest block may still take message lines until its first trace line.
    pending: _Block | None = root if fresh else None
    n = len(lines)
    end = j
    while j < n:
        line = lines[j]
        s = line.strip()
        if not s:
            j += 1
            continue
        kind = _kind(s)
        if kind == _OTHER:
            if pending is not None:
                k = _find_structural(lines, j)
                if k >= 0:
                    pending.msg.extend(x.rstrip() for x in lines[j:k])
                    pending = None
                    j = k
                    continue
            break
        pending = None
        w = _width(line)
        if kind in (_FRAME, _MORE, _SUPPLINES):
            while len(stack) > 1 and w <= stack[-1].width:
                stack.pop()
            block = stack[-1].blocks[-1]
            if kind == _FRAME:
                frame = _parse_frame(s)
                if frame is not None:
                    block.frames.append(frame)
            elif kind == _MORE:
                m = _MORE_RE.match(s)
                block.more = int(m.group(1)) if m else None
            else:
                m = _SUPPLINES_RE.match(s)
                block.supp_lines += int(m.group(1)) if m else 0
        elif kind in (_CAUSED, _WRAPPED):
            while len(stack) > 1 and w < stack[-1].width:
                stack.pop()
            label = "Caused by:" if kind == _CAUSED else "Wrapped by:"
            block = _loose_block(s[len(label) :], "caused" if kind == _CAUSED else "wrapped")
            stack[-1].blocks.append(block)
            pending = block
        elif kind == _SUPPRESSED:
            while len(stack) > 1 and w <= stack[-1].width:
                stack.pop()
            block = _loose_block(s[len("Suppressed:") :], "top")
            chain = _Chain(w, block)
            stack[-1].blocks[-1].suppressed.append(chain)
            stack.append(chain)
            pending = block
        j += 1
        end = j
    return top, end


def _loose_block(rest: str, relation: str) -> _Block:
    rest = rest.strip()
    m = _LOOSE_CAPTION_RE.match(rest) if rest else None
    if m is None:
        return _Block(UNKNOWN, rest or None, relation)
    return _Block(m.group(1), _caption_message(m.group(2)), relation)


@lru_cache(maxsize=1 << 16)
def _parse_frame(s: str) -> StackFrame | None:
    """Parse a stripped ``at …`` line (cached: the same frames recur in every trace)."""
    m = _FRAME_RE.match(s)
    if m is None:
        return None
    q, method, loc = m.group("q"), m.group("m"), m.group("loc").strip()
    module = None
    if "/" in q:
        # [loader/][module[@version]/]class; a hidden class (`$$Lambda$1/0x…`) has `$`
        # before its slash, which no module or loader name has.
        segs = q.split("/")
        k = 0
        while k < min(2, len(segs) - 1) and _MODSEG_RE.fullmatch(segs[k]):
            k += 1
        while k > 0 and not _starts_identifier("/".join(segs[k:])):
            k -= 1
        if k:
            module = segs[k - 1] or None
            q = "/".join(segs[k:])
    file: str | None
    line: int | None = None
    if not loc or loc in ("Native Method", "Unknown Source"):
        file = None
    else:
        name, sep, num = loc.rpartition(":")
        if sep and num.isdigit():
            file, line = name, int(num)
        else:
            file = loc
        if file == "Unknown Source":
            file = None
    return StackFrame(q, method, file, line, module)


def _starts_identifier(s: str) -> bool:
    return bool(s) and (s[0].isalpha() or s[0] in "_$")


def _order(chain: _Chain) -> list[_Block]:
    """Blocks outermost → root: ``Wrapped by:`` (log4j 2 ``%rEx``) prints root first."""
    out: list[_Block] = []
    for block in chain.blocks:
        if block.relation == "wrapped":
            out.insert(0, block)
        else:
            out.append(block)
    return out


def _thrown(block: _Block, causes: tuple[ThrownException, ...] = ()) -> ThrownException:
    return ThrownException(
        exception=block.cls,
        message="\n".join(block.msg) or None,
        frames=tuple(block.frames),
        more=block.more,
        suppressed_lines=block.supp_lines,
        suppressed=tuple(_suppressed(c) for c in block.suppressed),
        causes=causes,
    )


def _suppressed(chain: _Chain) -> ThrownException:
    blocks = _order(chain)
    return _thrown(blocks[0], tuple(_thrown(b) for b in blocks[1:]))


def _build(chain: _Chain, origin: str, line_offset: int) -> StackTrace:
    blocks = _order(chain)
    top = _thrown(blocks[0])
    causes = tuple(_thrown(b) for b in blocks[1:])
    return _make_trace(top, causes, origin, line_offset)


def _make_trace(
    top: ThrownException, causes: tuple[ThrownException, ...], origin: str, line_offset: int
) -> StackTrace:
    root = causes[-1] if causes else top
    return StackTrace(
        exception=top.exception,
        message=top.message,
        frames=top.frames,
        causes=causes,
        root_cause=root.exception,
        root_message=root.message,
        fingerprint=_fingerprint(top, causes),
        origin=origin,
        line_offset=line_offset,
        more=top.more,
        suppressed_lines=top.suppressed_lines,
        suppressed=top.suppressed,
    )


def _json_traces(line: str, line_offset: int) -> list[StackTrace]:
    """Traces held in JSON strings of ``line`` (escaped ``\\n\\tat`` lists or exception text)."""
    spans: list[tuple[int, int]] = []
    if "\\n" in line:
        covered = -1
        for m in _JSON_FRAME_RE.finditer(line):
            if m.start() < covered:
                continue
            start = _string_start(line, m.start())
            if start < 0:
                continue
            end = _string_end(line, start + 1)
            spans.append((start, end))
            covered = end
    for m in _JSON_EXC_RE.finditer(line):
        start = m.start()
        if any(a <= start <= b for a, b in spans):
            continue
        end = _string_end(line, start + 1)
        # `"com.x.FooException":{…}` is a key (a Gson type wrapper), not a value.
        if line[end + 1 : end + 2] == ":":
            continue
        spans.append((start, end))
    traces: list[StackTrace] = []
    for start, end in sorted(spans):
        decoded = _decode_json_string(line[start + 1 : end])
        for t in _parse_lines(decoded.split("\n"), nested=True):
            traces.append(_relocate(t, "json", line_offset))
    return traces


def _string_start(line: str, pos: int) -> int:
    """Index of the unescaped quote that opens the JSON string containing ``pos``."""
    k = line.rfind('"', 0, pos)
    while k > 0 and _escaped(line, k):
        k = line.rfind('"', 0, k)
    return k


def _string_end(line: str, pos: int) -> int:
    """Index of the quote that closes the JSON string whose body starts at ``pos``."""
    m = _JSON_BODY_RE.match(line, pos)
    return m.end() if m is not None else len(line)


def _escaped(line: str, k: int) -> bool:
    n = 0
    while k - n - 1 >= 0 and line[k - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def _decode_json_string(raw: str) -> str:
    try:
        value = _JSON_DECODER.decode('"' + raw + '"')
    except ValueError:  # truncated line or a stray backslash
        return raw.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    return value if isinstance(value, str) else raw


def _relocate(t: StackTrace, origin: str, line_offset: int) -> StackTrace:
    return StackTrace(
        t.exception,
        t.message,
        t.frames,
        t.causes,
        t.root_cause,
        t.root_message,
        t.fingerprint,
        origin,
        line_offset,
        t.more,
        t.suppressed_lines,
        t.suppressed,
    )


def _inline_trace(line: str, line_offset: int) -> StackTrace | None:
    m = _INLINE_RE.search(line)
    if m is None:
        return None
    start = m.start()
    # Inside a JSON string (odd number of unescaped quotes before it): payload, not message.
    if (line.count('"', 0, start) - line.count('\\"', 0, start)) % 2:
        return None
    message = (m.group(2) or "").strip() or None
    top = ThrownException(m.group(1), message, (), None, 0, ())
    return _make_trace(top, (), "inline", line_offset)


# ------------------------------------------------------------------------ fingerprint


def _is_noise(frame: StackFrame) -> bool:
    cls = frame.cls
    return (
        cls.startswith(_NOISE_PREFIXES)
        or any(p in cls for p in _NOISE_PARTS)
        or frame.file == "<generated>"
        or frame.method == "invokeSuper"
    )


def _key_frames(frames: Sequence[StackFrame]) -> list[str]:
    """Up to 5 normalised frames: CloudStack frames if any, else the first non-noise ones.

    JDK-internal frames are left out when CloudStack frames exist because they change with
    the JVM (``ArrayList.add`` vs ``rangeCheckForAdd``, ``TimSort`` vs ``mergeSort``).
    """
    kept = [f for f in frames if not _is_noise(f)]
    app = [f for f in kept if f.cls.startswith(APP_PREFIXES)]
    chosen = (app or kept)[:_FINGERPRINT_FRAMES]
    return [
        _ANON_RE.sub("$*", f.cls.split("/", 1)[0]) + "." + _ANON_RE.sub("$*", f.method)
        for f in chosen
    ]


def _fingerprint(top: ThrownException, causes: tuple[ThrownException, ...]) -> str:
    """sha1 of the type chain + key frames of the outermost and the root exception."""
    parts = [" > ".join((top.exception, *(c.exception for c in causes)))]
    parts.append(",".join(_key_frames(top.frames)))
    if causes:
        parts.append(",".join(_key_frames(causes[-1].frames)))
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:_FINGERPRINT_LEN]


def message_template(msg: str | None) -> str:
    """Replace the variable parts of an exception message by ``<*>`` (for display).

    Quoted strings, UUIDs, VM names (``i-2-5-VM``), IPs, hex ids and numbers are replaced::

        >>> message_template("Index: 2, Size: 1")
        'Index: <*>, Size: <*>'
    """
    if not msg:
        return ""
    for regex in _TEMPLATE_RES:
        msg = regex.sub("<*>", msg)
    return msg


# -------------------------------------------------------------------------- masking


def iter_trace_occurrences(records: Iterable[Record]) -> Iterator[TraceOccurrence]:
    """Yield one ``TraceOccurrence`` per trace found in ``records``, in input order."""
    for rec in records:
        for trace in parse_traces(rec.text):
            yield TraceOccurrence(
                rec.source,
                rec.line + trace.line_offset,
                rec.timestamp,
                rec.host,
                rec.thread,
                rec.seq,
                rec.logid,
                trace,
            )


def _millis(timestamp: str | None, cache: dict[str, float | None]) -> float | None:
    if timestamp is None:
        return None
    if timestamp in cache:
        return cache[timestamp]
    try:
        dt = datetime.fromisoformat(timestamp)
    except ValueError:
        value = None
    else:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        value = dt.timestamp() * 1000.0
    cache[timestamp] = value
    return value


def _masks(first: StackTrace, second: StackTrace) -> bool:
    """Whether ``second`` is a different failure rather than the same one re-logged."""
    if second.exception == first.exception:
        return False
    # A wrapper that carries the first as its cause, or a re-log of one of its causes.
    return first.exception not in second.chain[1:] and second.exception not in first.chain


def link_masks(occurrences: Sequence[TraceOccurrence], window_ms: int = 2000) -> list[MaskLink]:
    """Find exceptions thrown by a failure handler that hid an earlier exception.

    ``occurrences[j]`` masks ``occurrences[i]`` when both are on the same host, share the
    thread, the agent ``seq`` or the ``logid``, ``j`` comes at most ``window_ms`` after ``i``,
    its type differs, and neither is a wrapper or a cause of the other. Each primary gets at
    most one link: the earliest such ``j``. Occurrences without a timestamp are skipped.
    O(n log n) (one sort per key group, a bounded scan per occurrence).

    :returns: links sorted by ``(primary_index, masking_index)``.
    """
    cache: dict[str, float | None] = {}
    millis = [_millis(o.timestamp, cache) for o in occurrences]
    groups: dict[tuple[str, str, str], list[int]] = {}
    for idx, occ in enumerate(occurrences):
        if millis[idx] is None:
            continue
        for key, value in (("thread", occ.thread), ("seq", occ.seq), ("logid", occ.logid)):
            if value:
                groups.setdefault((occ.host, key, value), []).append(idx)
    best: dict[int, tuple[float, int, str]] = {}
    for (_, key, value), members in groups.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda k: (millis[k], k))
        for p, a in enumerate(members):
            t0 = millis[a]
            assert t0 is not None
            first = occurrences[a].trace
            for b in members[p + 1 : p + 1 + _MASK_SCAN]:
                t1 = millis[b]
                assert t1 is not None
                gap = t1 - t0
                if gap > window_ms:
                    break
                if _masks(first, occurrences[b].trace):
                    current = best.get(a)
                    if current is None or (t1, b) < current[:2]:
                        best[a] = (t1, b, f"same {key} {value}, +{gap:.0f} ms")
                    break
    return [MaskLink(a, b, reason) for a, (_, b, reason) in sorted(best.items())]


def _where(trace: StackTrace) -> str:
    name = trace.exception.rsplit(".", 1)[-1]
    frame = trace.first_app_frame
    return f"{name} in {frame.method}" if frame is not None else name


def describe_mask(
    primary: StackTrace | TraceOccurrence, masking: StackTrace | TraceOccurrence
) -> str:
    """Say which exception masked which, by short class name and first CloudStack method.

    ``"NullPointerException in cleanupVMNetworks masked IndexOutOfBoundsException in createVbd"``
    """
    p = primary.trace if isinstance(primary, TraceOccurrence) else primary
    m = masking.trace if isinstance(masking, TraceOccurrence) else masking
    return f"{_where(m)} masked {_where(p)}"
