"""Parse agent command transport lines and their JSON payloads; extract StartCommand disks.

Pure functions, no pandas, safe on 50 KB lines:

* :func:`parse_transport` splits ``(Request:)?Seq h-n: <prefix>  { Cmd |Ans: , MgmtId: …,
  via: N(name)?, Ver: v1, Flags: bits, <content> }`` (ref §2.1, §7) with one anchored regex
  that stops before the content; the content is sliced, never scanned by a regex.
* :func:`parse_payload` parses the content: a Gson array of one-key objects
  (``[{"StartCommand":{…}}]``, 4.2+ ``[{"com.cloud.agent.api.StartCommand":{…}}]``) or a
  brace list of class names (``{ StartAnswer }``). It tolerates a cut line (parses what
  is complete, sets ``truncated``), coerces 4.15+ quoted numbers/booleans and
  ``"(20.00 GB) 21474836480"`` sizes, and unwraps nested polymorphic one-key FQCN objects
  (``"data":{"org.apache.cloudstack.storage.to.VolumeObjectTO":{…}}``).
* :func:`extract_disks` reads the disk list of a StartCommand in both shapes (2.2-4.1
  ``VolumeTO``; 4.2+ ``DiskTO`` + ``VolumeObjectTO``), keeps the array order (creation
  order) apart from the device order and computes the flags (a)-(e) of ref §7.

Example::

    layout = start_command_disks(record.message)
    if layout is not None and layout.out_of_order:
        print(layout.vm_name, layout.device_order)   # i-2-5-VM (0, 2, 1)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLASS_KEY",
    "TRUNCATED_KEY",
    "Disk",
    "DiskLayout",
    "Payload",
    "Transport",
    "extract_disks",
    "parse_payload",
    "parse_transport",
    "short_class",
    "start_command_disks",
]

#: Key added to an object that was cut off in a truncated payload (closed heuristically).
TRUNCATED_KEY = "__truncated__"
#: Key holding the FQCN of an unwrapped polymorphic object (``"data":{"<FQCN>":{…}}``).
CLASS_KEY = "__class__"

# Everything up to the content; `lead` is what comes before `Seq`: "Request:" on the agent,
# "SeqA h-n: Processing " / "SeqA h-n: Sending " for agent-originated requests on the MS,
# or free text such as "Startup request from directly connected host: ".
_TRANSPORT = re.compile(
    r"(?P<lead>Request:|SeqA (?P<seqa>-?\d+-\d+): (?:Processing|Sending) )?"
    r"Seq (?P<host>-?\d+)-(?P<n>-?\d+): ?(?P<prefix>[^{]*?)\s*"
    r"\{ (?P<kind>Cmd|Ans)(?: |: ), MgmtId: (?P<mgmt>-?\d+), via: (?P<via>-?\d+)"
    r"(?:\((?P<via_name>[^)]*)\))?, Ver: (?P<ver>v\d+), Flags: (?P<flags>[01]+),(?: |$)"
)
_LEAD_WINDOW = 300

_FQCN = re.compile(r"^[a-z_][\w$]*(?:\.[\w$]+)*\.[A-Z][\w$]*$")
_INT = re.compile(r"^-?(?:0|[1-9]\d{0,18})$")
_SIZE = re.compile(r"^\(\d+(?:\.\d+)? [KMGTPE]?i?B\) (-?\d+)$")
# String values that stay strings even when they look like numbers.
_NO_COERCE = frozenset(
    {"name", "uuid", "path", "vncPassword", "hostName", "displayName", "mac", "ip", "ip6Address",
     "netmask", "gateway", "dns1", "dns2", "details", "password", "vmName", "guestOsType",
     "chainInfo", "iqn", "vncAddr", "hostIp"}
)
_FIRST_CLASS = re.compile(r'\[\{"(?:[\w$]+\.)*([\w$]+)"|\{ (?:[\w$]+\.)*([\w$]+)')


# --------------------------------------------------------------------------- transport

@dataclass(frozen=True, slots=True)
class Transport:
    """One agent transport line (``Request.log``), content not parsed.

    ``prefix`` is the text between ``Seq h-n: `` and ``{`` without trailing space:
    ``Sending``, ``Received:``, ``Processing:``, ``Received after timeout:``,
    ``Executing:``, ``Waiting for Seq N Scheduling:`` or ``""``. ``lead`` is what comes before
    ``Seq``: ``Request:`` (agent side), ``SeqA h-n: Processing`` (agent-originated request
    seen on the MS) or ``""``. ``complete`` is False when the line was cut (no final ``}``).
    """

    seq: str
    host_id: int
    kind: str  # "Cmd" | "Ans"
    prefix: str
    mgmt_id: int
    via: int
    via_name: str | None
    version: str
    flags: str
    content: str
    lead: str = ""
    seqa: str | None = None
    complete: bool = True

    @property
    def request(self) -> bool:
        """True for the agent's ``Request:Seq …`` line."""
        return self.lead == "Request:"

    @property
    def is_json(self) -> bool:
        """True when the content is the JSON array (not ``{ Name }`` or empty)."""
        return self.content[:1] == "["

    @property
    def first_class(self) -> str | None:
        """Short class name of the first command/answer in the content."""
        m = _FIRST_CLASS.match(self.content)
        if m is None:
            return None
        return m.group(1) or m.group(2)


def parse_transport(message: str) -> Transport | None:
    """Parse an agent transport message (ref §7), or return None.

    :param message: the record's message (the part after the log header).
    """
    if "Seq " not in message[:_LEAD_WINDOW]:
        return None
    m = _TRANSPORT.match(message)
    lead = ""
    if m is None:
        # Free text before `Seq` ("Startup request from directly connected host: …").
        i = message.find("Seq ", 0, _LEAD_WINDOW)
        while i > 0 and m is None:
            m = _TRANSPORT.match(message, i)
            if m is None:
                i = message.find("Seq ", i + 4, _LEAD_WINDOW)
        if m is None:
            return None
        lead = message[:i].strip()
    else:
        lead = (m.group("lead") or "").strip()
    content = message[m.end():]
    complete = content.endswith(" }") or content == "}"
    if complete:
        content = content[:-2] if content.endswith(" }") else ""
    return Transport(
        seq=f"{m.group('host')}-{m.group('n')}",
        host_id=int(m.group("host")),
        kind=m.group("kind"),
        prefix=m.group("prefix").strip(),
        mgmt_id=int(m.group("mgmt")),
        via=int(m.group("via")),
        via_name=m.group("via_name"),
        version=m.group("ver"),
        flags=m.group("flags"),
        content=content.strip(),
        lead=lead,
        seqa=m.group("seqa"),
        complete=complete,
    )


# --------------------------------------------------------------------------- payload

class Payload(list[tuple[str, dict[str, Any]]]):
    """``[(class key, object), …]`` of a transport content, plus ``truncated``.

    The key is as written (``StartCommand``, ``storage.CreateCommand``,
    ``com.cloud.agent.api.StartCommand``); :func:`short_class` gives ``StartCommand``.
    Objects cut off by a truncated line carry ``TRUNCATED_KEY: True``.
    """

    truncated: bool

    def __init__(self, items: Iterable[tuple[str, dict[str, Any]]] = (), truncated: bool = False):
        super().__init__(items)
        self.truncated = truncated

    def first(self, short_name: str) -> dict[str, Any] | None:
        """The object of the first item whose short class name is ``short_name``."""
        for key, obj in self:
            if short_class(key) == short_name:
                return obj
        return None


def short_class(name: str) -> str:
    """``com.cloud.agent.api.StartCommand`` / ``storage.CreateCommand`` → the class name."""
    return name.rsplit(".", 1)[-1]


_DECODER = json.JSONDecoder(strict=False)


def parse_payload(content: str) -> Payload:
    """Parse a transport content into ``[(class key, object)]`` (see :class:`Payload`).

    A JSON array that does not parse (a cut line) is repaired: it is cut back to the last
    complete value and the open brackets are closed; every object that was cut off gets
    ``TRUNCATED_KEY`` and ``Payload.truncated`` is True.
    """
    s = content.strip()
    if not s:
        return Payload()
    if s[0] == "{":
        closed = s.endswith("}")
        inner = s[1:-1] if closed else s[1:]
        names = [n.strip() for n in inner.split(",") if n.strip()]
        return Payload(((n, {}) for n in names), truncated=not closed)
    if s[0] != "[":
        return Payload()
    truncated = False
    try:
        data, _end = _DECODER.raw_decode(s)
    except json.JSONDecodeError:
        data = _repair(s)
        truncated = True
        if data is None:
            return Payload(truncated=True)
    if not isinstance(data, list):
        data = [data]
    items: list[tuple[str, dict[str, Any]]] = []
    for item in data:
        if not isinstance(item, dict):
            continue
        cut = bool(item.pop(TRUNCATED_KEY, False))
        if len(item) == 1:
            key, obj = next(iter(item.items()))
            if isinstance(obj, dict):
                items.append((key, _normalise_obj(obj)))
                continue
        if cut:
            item[TRUNCATED_KEY] = True
        if item:
            items.append(("", _normalise_obj(item)))
    return Payload(items, truncated=truncated)


def _coerce(key: str | None, v: str) -> Any:
    if key in _NO_COERCE or not v or len(v) > 40:
        return v
    c = v[0]
    if c == "t" and v == "true":
        return True
    if c == "f" and v == "false":
        return False
    if c == "(":
        m = _SIZE.match(v)
        return int(m.group(1)) if m else v
    if (c.isdigit() or c == "-") and _INT.match(v):
        return int(v)
    return v


def _normalise(value: Any, key: str | None) -> Any:
    if isinstance(value, str):
        return _coerce(key, value)
    if isinstance(value, dict):
        return _normalise_obj(value)
    if isinstance(value, list):
        return [_normalise(v, key) for v in value]
    return value


def _normalise_obj(obj: dict[str, Any]) -> dict[str, Any]:
    # Polymorphic wrapper {"<FQCN>": {...}} (4.2+), possibly with a truncation marker.
    keys = [k for k in obj if k != TRUNCATED_KEY]
    if len(keys) == 1 and isinstance(obj[keys[0]], dict) and _FQCN.match(keys[0]):
        inner = _normalise_obj(obj[keys[0]])
        out = {CLASS_KEY: keys[0], **inner}
        if obj.get(TRUNCATED_KEY):
            out[TRUNCATED_KEY] = True
        return out
    return {k: _normalise(v, k) for k, v in obj.items()}


# A JSON token: string (unrolled loop), punctuation, bare scalar, whitespace.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]|[^\s\[\]{}:,"]+|\s+')


def _closers(stack: list[list[Any]]) -> str:
    parts = []
    for frame in reversed(stack):
        if frame[0] == "{":
            parts.append((',"' if frame[2] else '"') + TRUNCATED_KEY + '":true}')
        else:
            parts.append("]")
    return "".join(parts)


def _repair(s: str) -> Any:
    """Parse the longest complete prefix of a cut JSON document, closing open brackets.

    Frames are ``[bracket, state, has_items]``; states: object ``key``/``colon``/``value``/
    ``comma``, array ``value``/``comma``. A *safe point* is a position right after a complete
    value (or right after an opening bracket); the document is cut at the last one.
    A bare scalar running to the end of the text is not complete (``2147`` of ``21474836480``).
    """
    stack: list[list[Any]] = []
    safe: tuple[int, str] | None = None
    pos, n = 0, len(s)
    match = _TOKEN.match
    while pos < n:
        m = match(s, pos)
        if m is None:  # an unterminated string
            break
        tok = m.group()
        end = m.end()
        c = tok[0]
        if c.isspace():
            pos = end
            continue
        top = stack[-1] if stack else None
        if c in "[{":
            if top is not None:
                if top[1] not in ("value",):
                    break
                top[1] = "comma"
                top[2] = True
            stack.append([c, "key" if c == "{" else "value", False])
            safe = (end, _closers(stack))
        elif c in "]}":
            if top is None or (c == "]") != (top[0] == "["):
                break
            if top[0] == "{" and top[1] not in ("key", "comma"):
                break
            if top[0] == "[" and top[1] not in ("value", "comma"):
                break
            stack.pop()
            if not stack:
                return json.loads(s[:end], strict=False)
            safe = (end, _closers(stack))
        elif c == ":":
            if top is None or top[0] != "{" or top[1] != "colon":
                break
            top[1] = "value"
        elif c == ",":
            if top is None or top[1] != "comma":
                break
            top[1] = "key" if top[0] == "{" else "value"
        else:  # string or bare scalar
            if top is None:
                break
            if top[0] == "{" and top[1] == "key":
                if c != '"':
                    break
                top[1] = "colon"
            elif top[1] == "value":
                if c != '"' and end >= n:
                    break  # a number/literal cut at the end of the text
                top[1] = "comma"
                top[2] = True
                safe = (end, _closers(stack))
            else:
                break
        pos = end
    if safe is None:
        return None
    try:
        return json.loads(s[: safe[0]] + safe[1], strict=False)
    except json.JSONDecodeError:
        return None


# --------------------------------------------------------------------------- disks

@dataclass(frozen=True, slots=True)
class Disk:
    """One non-ISO disk of a StartCommand, in array order (``position``, 0-based)."""

    position: int
    volume_id: int | None
    name: str | None
    type: str | None
    device_id: int | None


@dataclass(frozen=True, slots=True)
class DiskLayout:
    """Disk layout of one StartCommand (ref §7 "Disk extraction", flags (a)-(e)).

    * ``disks``: non-ISO disks in array order (= creation/DB order, ref §2.4).
    * ``out_of_order`` (a): array order ≠ device-id order (disks with a device id).
    * ``gaps`` (b): device ids missing between 0 and the highest one, 3 (CD-ROM) excepted.
    * ``data_disks`` (c): number of DATADISKs; ``many_data_disks`` is ``data_disks >= 3``.
    * ``null_device`` (d): a disk without device id (4.2+ ``diskSeq`` absent/null).
    * ``duplicate_device`` (e): device ids used more than once.
    * ``truncated``: the payload was cut; disks after the cut are missing.
    """

    vm_name: str | None
    vm_id: int | None
    disks: tuple[Disk, ...]
    iso_device_id: int | None
    truncated: bool
    out_of_order: bool
    gaps: tuple[int, ...]
    duplicate_device: tuple[int, ...]
    null_device: bool
    data_disks: int
    device_order: tuple[int | None, ...]
    creation_order: tuple[int | None, ...]

    @property
    def many_data_disks(self) -> bool:
        """Flag (c): 3+ data disks (device id 4+ is then needed: the 2.2.14 trigger)."""
        return self.data_disks >= 3

    @property
    def flags(self) -> tuple[str, ...]:
        """Names of the raised flags, in (a)-(e) order."""
        out = []
        if self.out_of_order:
            out.append("out_of_order")
        if self.gaps:
            out.append("gaps")
        if self.many_data_disks:
            out.append("many_data_disks")
        if self.null_device:
            out.append("null_device")
        if self.duplicate_device:
            out.append("duplicate_device")
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (lists, not tuples) for JSON output."""
        return {
            "vm_name": self.vm_name,
            "vm_id": self.vm_id,
            "disks": [
                {"position": d.position, "volume_id": d.volume_id, "name": d.name, "type": d.type,
                 "device_id": d.device_id}
                for d in self.disks
            ],
            "iso_device_id": self.iso_device_id,
            "truncated": self.truncated,
            "out_of_order": self.out_of_order,
            "gaps": list(self.gaps),
            "duplicate_device": list(self.duplicate_device),
            "null_device": self.null_device,
            "data_disks": self.data_disks,
            "device_order": list(self.device_order),
            "creation_order": list(self.creation_order),
            "flags": list(self.flags),
        }


def _as_int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        c = _coerce(None, v.strip())
        return c if isinstance(c, int) and not isinstance(c, bool) else None
    return None


def _unwrap(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        return {}
    if CLASS_KEY not in v:
        return _normalise_obj(v)
    out: dict[str, Any] = v
    return out


def extract_disks(start_command: Mapping[str, Any], *, truncated: bool = False) -> DiskLayout:
    """Read the disk list of a StartCommand object (both payload shapes).

    :param start_command: the StartCommand object (``{"vm": {…}, "wait": 0}``) or the one-key
        wrapper ``{"StartCommand": {…}}``.
    :param truncated: the payload was cut (``Payload.truncated``).
    """
    obj: Mapping[str, Any] = start_command
    if "vm" not in obj and len(obj) == 1:
        inner = next(iter(obj.values()))
        if isinstance(inner, Mapping):
            obj = inner
    vm = obj.get("vm")
    if not isinstance(vm, Mapping):
        vm = {}
    cut = truncated or bool(obj.get(TRUNCATED_KEY)) or bool(vm.get(TRUNCATED_KEY))
    raw = vm.get("disks")
    disks: list[Disk] = []
    iso: int | None = None
    iso_seen = False
    for pos, d in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(d, Mapping):
            continue
        if d.get(TRUNCATED_KEY):
            cut = True
            continue
        if "data" in d or "diskSeq" in d:  # 4.2+ DiskTO
            data = _unwrap(d.get("data"))
            typ = d.get("type") or data.get("volumeType")
            dev = _as_int(d.get("diskSeq"))
            vol_id = _as_int(data.get("id"))
            if vol_id is None:
                vol_id = _as_int(data.get("volumeId"))
            name = data.get("name")
        else:  # 2.2-4.1 VolumeTO
            typ = d.get("type")
            dev = _as_int(d.get("deviceId"))
            vol_id = _as_int(d.get("id"))
            name = d.get("name")
        if typ == "ISO":
            if not iso_seen:
                iso, iso_seen = dev, True
            continue
        disks.append(Disk(pos, vol_id, name if isinstance(name, str) else None,
                          typ if isinstance(typ, str) else None, dev))
    devs = [d.device_id for d in disks if d.device_id is not None]
    counts: dict[int, int] = {}
    for dv in devs:
        counts[dv] = counts.get(dv, 0) + 1
    gaps: tuple[int, ...] = ()
    if devs:
        present = set(devs)
        gaps = tuple(i for i in range(0, max(devs) + 1) if i != 3 and i not in present)
    name = vm.get("name")
    return DiskLayout(
        vm_name=name if isinstance(name, str) else None,
        vm_id=_as_int(vm.get("id")),
        disks=tuple(disks),
        iso_device_id=iso,
        truncated=cut,
        out_of_order=devs != sorted(devs),
        gaps=gaps,
        duplicate_device=tuple(sorted(k for k, c in counts.items() if c > 1)),
        null_device=any(d.device_id is None for d in disks),
        data_disks=sum(1 for d in disks if d.type == "DATADISK"),
        device_order=tuple(d.device_id for d in disks),
        creation_order=tuple(d.volume_id for d in disks),
    )


def start_command_disks(message: str) -> DiskLayout | None:
    """Disk layout of a ``Sending`` / ``Request:`` line whose payload is a StartCommand.

    Returns None for any other message (cheap: bails out unless ``"StartCommand"`` is in it).
    """
    if "StartCommand" not in message:
        return None
    t = parse_transport(message)
    if t is None or t.kind != "Cmd" or not t.is_json:
        return None
    payload = parse_payload(t.content)
    obj = payload.first("StartCommand")
    if obj is None:
        return None
    return extract_disks(obj, truncated=payload.truncated)
