"""Transport lines, JSON payloads of every era, truncation, and StartCommand disk layouts."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from logparse.payload import (
    CLASS_KEY,
    TRUNCATED_KEY,
    Disk,
    extract_disks,
    parse_payload,
    parse_transport,
    short_class,
    start_command_disks,
)

# §2.4, verbatim: the 2.2.14 StartCommand of VM 5 (ROOT dev 0, data1 dev 2, data2 dev 1, ISO dev 3).
JSON_22 = (
    '[{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","type":"User","cpus":1,"speed":500,"minRam":536870912,'
    '"maxRam":536870912,"arch":"x86_64","os":"CentOS 5.5 (64-bit)","bootArgs":"","rebootOnCrash":false,'
    '"enableHA":false,"limitCpuUse":false,"vncPassword":"8f3c2a91d0b4e7f1","params":{},"disks":[{"id":5,'
    '"name":"ROOT-5","mountPoint":"/export/primary","path":"/mnt/6a1b0c3e-27e5-3ab4-9c55-8d1e2f3a4b5c/'
    '4c1e9f0a-5b7d-4e2a-8c3f-1a2b3c4d5e6f","size":21474836480,"type":"ROOT","storagePoolType":"NetworkFilesystem",'
    '"storagePoolUuid":"6a1b0c3e-27e5-3ab4-9c55-8d1e2f3a4b5c","deviceId":0},{"id":7,"name":"data1",'
    '"mountPoint":"/export/primary","path":"/mnt/6a1b0c3e-27e5-3ab4-9c55-8d1e2f3a4b5c/'
    '0b9e8d7c-1a2b-4c3d-8e9f-a0b1c2d3e4f5","size":53687091200,"type":"DATADISK","storagePoolType":'
    '"NetworkFilesystem","storagePoolUuid":"6a1b0c3e-27e5-3ab4-9c55-8d1e2f3a4b5c","deviceId":2},{"id":8,'
    '"name":"data2","mountPoint":"/export/primary","path":"/mnt/6a1b0c3e-27e5-3ab4-9c55-8d1e2f3a4b5c/'
    '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a","size":10737418240,"type":"DATADISK","storagePoolType":'
    '"NetworkFilesystem","storagePoolUuid":"6a1b0c3e-27e5-3ab4-9c55-8d1e2f3a4b5c","deviceId":1},{"id":5,'
    '"name":"CentOS 5.5(64-bit) no GUI (KVM)","size":0,"type":"ISO","storagePoolType":"ISO","deviceId":3}],'
    '"nics":[{"deviceId":0,"networkRateMbps":200,"defaultNic":true,"ip":"10.1.1.23","netmask":"255.255.255.0",'
    '"gateway":"10.1.1.1","mac":"02:00:4c:5e:00:01","dns1":"10.1.1.1","broadcastType":"Vlan","type":"Guest",'
    '"broadcastUri":"vlan://1024","isolationUri":"vlan://1024","isSecurityGroupEnabled":false}]},"wait":0}}]'
)

SEND_22 = "Seq 3-1493630987: Sending  { Cmd , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 100111, {} }"
SEND_4X = ("Seq 1-7953898358211821626: Sending  { Cmd , MgmtId: 90520739143127, via: 1(kvm01), Ver: v1, "
           "Flags: 100011, {} }")

POOL = "6a1b0c3e-27e5-3ab4-9c55-8d1e2f3a4b5c"


def _store() -> dict[str, Any]:
    return {"org.apache.cloudstack.storage.to.PrimaryDataStoreTO": {
        "uuid": POOL, "name": "primary1", "id": 1, "poolType": "NetworkFilesystem", "host": "10.1.1.5",
        "path": "/export/primary", "port": 2049,
        "url": f"NetworkFilesystem://10.1.1.5/export/primary/?ROLE=Primary&STOREUUID={POOL}", "isManaged": False}}


def _disk_to(vol_id: int, name: str, vtype: str, dev: int | None, uuid: str, size: int,
             *, seq: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {"data": {"org.apache.cloudstack.storage.to.VolumeObjectTO": {
        "uuid": uuid, "volumeType": vtype, "dataStore": _store(), "name": name, "size": size, "path": uuid,
        "volumeId": vol_id, "vmName": "i-2-5-VM", "accountId": 2, "format": "QCOW2", "provisioningType": "THIN",
        "id": vol_id, "deviceId": dev, "hypervisorType": "KVM"}}}
    if dev is None:
        del d["data"]["org.apache.cloudstack.storage.to.VolumeObjectTO"]["deviceId"]
    if seq:
        d["diskSeq"] = dev
    d.update({"path": uuid, "type": vtype, "_details": {"managed": "false", "storagePort": "2049",
                                                        "storageHost": "10.1.1.5", "volumeSize": str(size)}})
    return d


def start_411(disks: list[tuple[int, str, str, int | None]], *, seq: bool = True) -> list[dict[str, Any]]:
    """The §2.4 4.11-style StartCommand, every field spelled out (the reference elides some)."""
    sizes = {"ROOT": 21474836480, "DATADISK": 10737418240}
    uuids = ["4c1e9f0a-5b7d-4e2a-8c3f-1a2b3c4d5e6f", "0b9e8d7c-1a2b-4c3d-8e9f-a0b1c2d3e4f5",
             "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"]
    uuids += [f"{i:08x}-5e6f-4a7b-8c9d-0e1f2a3b4c5d" for i in range(len(disks))]
    arr = [_disk_to(v, n, t, d, uuids[i], sizes[t], seq=seq) for i, (v, n, t, d) in enumerate(disks)]
    arr.append({"data": {"org.apache.cloudstack.storage.to.TemplateObjectTO": {
        "format": "ISO", "accountId": 0, "hvm": False, "id": 0}}, "diskSeq": 3, "type": "ISO"})
    vm = {"id": 5, "name": "i-2-5-VM", "bootloader": "HVM", "type": "User", "cpus": 1, "minSpeed": 500,
          "maxSpeed": 500, "minRam": 536870912, "maxRam": 536870912, "arch": "x86_64", "os": "CentOS 7",
          "platformEmulator": "CentOS 7", "bootArgs": "", "enableHA": False, "limitCpuUse": False,
          "enableDynamicallyScaleVm": False, "vncAddr": "10.1.1.11", "params": {},
          "uuid": "3f2c1b4a-8e7d-4c6b-9a5f-0e1d2c3b4a59", "disks": arr,
          "nics": [{"deviceId": 0, "networkRateMbps": 200, "defaultNic": True, "pxeDisable": False,
                    "nicUuid": "5d6e7f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f", "uuid": "6e7f8091-2b3c-4d4e-8f9a-8b7c6d5e4f3a",
                    "ip": "10.1.1.23", "netmask": "255.255.255.0", "gateway": "10.1.1.1", "mac": "02:00:4c:5e:00:01",
                    "dns1": "8.8.8.8", "broadcastType": "Vlan", "type": "Guest", "broadcastUri": "vlan://1024",
                    "isolationUri": "vlan://1024", "isSecurityGroupEnabled": False, "name": "cloudbr0"}]}
    return [{"com.cloud.agent.api.StartCommand": {"vm": vm, "hostIp": "10.1.1.11", "executeInSequence": False,
                                                  "wait": 0}}]


_SIZE_KEYS = {"size", "minRam", "maxRam", "volumeSize"}


def quote_415(value: Any, key: str | None = None) -> Any:
    """HumanReadableJson (4.15+): every primitive as a string, sizes as "(20.00 GB) 21474836480"."""
    if isinstance(value, dict):
        return {k: quote_415(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [quote_415(v, key) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if key in _SIZE_KEYS:
            units = [("GB", 1 << 30), ("MB", 1 << 20)]
            unit, div = next((u, d) for u, d in units if value >= d)
            return f"({value / div:.2f} {unit}) {value}"
        return str(value)
    return value


def line_of(template: str, payload: list[Any] | str) -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return template.replace("{}", body)


THREE = [(5, "ROOT-5", "ROOT", 0), (7, "data1", "DATADISK", 2), (8, "data2", "DATADISK", 1)]


# --------------------------------------------------------------------------- transport

@pytest.mark.parametrize(("message", "expect"), [
    pytest.param(SEND_22.replace("{}", "[]"), {"seq": "3-1493630987", "host_id": 3, "kind": "Cmd", "prefix": "Sending",
                                              "mgmt_id": 90520732674657, "via": 3, "via_name": None, "version": "v1",
                                              "flags": "100111", "content": "[]", "lead": "", "complete": True},
                 id="sending-2.2"),
    pytest.param(SEND_4X.replace("{}", "[]"), {"seq": "1-7953898358211821626", "via": 1, "via_name": "kvm01"},
                 id="sending-4.3-via-name"),
    pytest.param("Seq 3-1493630987: Processing:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, "
                 '[{"Answer":{"result":false,"wait":0}}] }', {"kind": "Ans", "prefix": "Processing:", "flags": "110"},
                 id="processing"),
    pytest.param("Seq 3-1493630987: Received:  { Ans: , MgmtId: 90520732674657, via: 3, Ver: v1, Flags: 110, "
                 "{ Answer } }", {"prefix": "Received:", "content": "{ Answer }", "first_class": "Answer"},
                 id="received-names"),
    pytest.param("Seq 3-1493630991: Received after timeout:  { Ans: , MgmtId: 1, via: 3, Ver: v1, Flags: 10, [] }",
                 {"prefix": "Received after timeout:"}, id="late"),
    pytest.param("Seq 5-1234567890123456789: Executing:  { Cmd , MgmtId: 1, via: 5(esx01), Ver: v1, Flags: 100011, "
                 "[] }", {"prefix": "Executing:", "via_name": "esx01"}, id="executing"),
    pytest.param("Seq 3-1493630988: Waiting for Seq 1493630987 Scheduling:  { Cmd , MgmtId: 1, via: 3, Ver: v1, "
                 "Flags: 100111, [] }", {"prefix": "Waiting for Seq 1493630987 Scheduling:"}, id="waiting"),
    pytest.param("Request:Seq 3-1493630987:  { Cmd , MgmtId: 1, via: 3, Ver: v1, Flags: 10100111, [] }",
                 {"lead": "Request:", "request": True, "prefix": "", "flags": "10100111"}, id="agent-request"),
    pytest.param("Seq 3-1493630987:  { Ans: , MgmtId: 1, via: 3, Ver: v1, Flags: 110, [] }",
                 {"lead": "", "prefix": "", "kind": "Ans", "request": False}, id="agent-answer"),
    pytest.param("SeqA 3-6270: Processing Seq 3-6270:  { Cmd , MgmtId: -1, via: 3, Ver: v1, Flags: 11, [] }",
                 {"seqa": "3-6270", "seq": "3-6270", "mgmt_id": -1, "lead": "SeqA 3-6270: Processing"},
                 id="seqa"),
    pytest.param("Seq 2-3401343618571567259: Sending  { Cmd , MgmtId: 1, via: 2(kvm2), Ver: v1, Flags: 100011, "
                 '[{"com.cloud.agent.api.StartCommand":{"vm":{"id":"4"', {"complete": False,
                                                                         "first_class": "StartCommand"},
                 id="cut-line"),
    pytest.param("Seq 3-1493630987: Sending  { Cmd , MgmtId: 1, via: 3, Ver: v1, Flags: 100011,  }",
                 {"content": "", "complete": True, "first_class": None}, id="empty-content"),
    pytest.param("Startup request from directly connected host: Seq -1-0:  { Cmd , MgmtId: -1, via: -1, Ver: v1, "
                 "Flags: 11, [] }", {"lead": "Startup request from directly connected host:", "host_id": -1},
                 id="free-text-lead"),
])
def test_parse_transport(message: str, expect: dict[str, Any]) -> None:
    t = parse_transport(message)
    assert t is not None
    for k, v in expect.items():
        got = getattr(t, k)
        assert got == v, k
        assert short_class(got) == v if k == "first_class" and v else True


@pytest.mark.parametrize("message", [
    "Seq 3-1493630987: Unable to find listener.",
    "Seq 3-1493630987: Sending the command now",
    "Processing command: com.cloud.agent.api.StartCommand",
    "",
    "x" * 1000 + "Seq 3-1: Sending  { Cmd , MgmtId: 1, via: 3, Ver: v1, Flags: 1, [] }",
])
def test_parse_transport_rejects(message: str) -> None:
    assert parse_transport(message) is None


# --------------------------------------------------------------------------- payload

def test_parse_payload_22_verbatim() -> None:
    p = parse_payload(JSON_22)
    assert not p.truncated
    assert [k for k, _ in p] == ["StartCommand"]
    vm = p[0][1]["vm"]
    assert vm["name"] == "i-2-5-VM"
    assert vm["minRam"] == 536870912
    assert vm["enableHA"] is False
    assert vm["vncPassword"] == "8f3c2a91d0b4e7f1"
    assert [d["deviceId"] for d in vm["disks"]] == [0, 2, 1, 3]


def test_parse_payload_411_unwraps_polymorphic_objects() -> None:
    p = parse_payload(json.dumps(start_411(THREE)))
    key, obj = p[0]
    assert key == "com.cloud.agent.api.StartCommand"
    assert short_class(key) == "StartCommand"
    d0 = obj["vm"]["disks"][0]
    assert d0["data"][CLASS_KEY] == "org.apache.cloudstack.storage.to.VolumeObjectTO"
    assert d0["data"]["dataStore"][CLASS_KEY] == "org.apache.cloudstack.storage.to.PrimaryDataStoreTO"
    assert d0["data"]["dataStore"]["port"] == 2049
    assert d0["_details"]["volumeSize"] == 21474836480  # a 4.x string detail, coerced
    assert obj["vm"]["disks"][3]["data"][CLASS_KEY].endswith("TemplateObjectTO")


def test_parse_payload_415_quoted_values_are_coerced() -> None:
    quoted = quote_415(start_411(THREE))
    text = json.dumps(quoted, separators=(",", ":"))
    assert '"size":"(20.00 GB) 21474836480"' in text
    assert '"diskSeq":"2"' in text
    assert '"isManaged":"false"' in text
    plain = parse_payload(json.dumps(start_411(THREE)))
    assert parse_payload(text) == plain


def test_coercion_keeps_strings_that_are_names() -> None:
    p = parse_payload('[{"Answer":{"result":"false","details":"42","name":"7","wait":"0","ip":"10.1.1.1",'
                      '"size":"(512.00 MB) 536870912","version":"4.11","big":"12345678901234567890123"}}]')
    obj = p[0][1]
    assert obj == {"result": False, "details": "42", "name": "7", "wait": 0, "ip": "10.1.1.1",
                   "size": 536870912, "version": "4.11", "big": "12345678901234567890123"}


def test_brace_list_and_empty_content() -> None:
    assert parse_payload("{ StartAnswer }") == [("StartAnswer", {})]
    assert parse_payload("{ Answer, CheckSshAnswer }") == [("Answer", {}), ("CheckSshAnswer", {})]
    assert parse_payload("") == []
    assert not parse_payload("").truncated


def test_answer_details_keep_the_trace() -> None:
    p = parse_payload('[{"Answer":{"result":false,"details":"java.lang.NullPointerException\\n\\tat '
                      'com.cloud.agent.resource.computing.LibvirtComputingResource.cleanupVMNetworks('
                      'LibvirtComputingResource.java:3266)\\n","wait":0}}]')
    assert p.first("Answer") == {"result": False, "wait": 0, "details": (
        "java.lang.NullPointerException\n\tat com.cloud.agent.resource.computing.LibvirtComputingResource"
        ".cleanupVMNetworks(LibvirtComputingResource.java:3266)\n")}


@pytest.mark.parametrize("cut", [1, 2, 17, 100, 500, 1000, 1500, -300, -30, -2])
def test_truncated_payload_never_raises(cut: int) -> None:
    p = parse_payload(JSON_22[:cut])
    assert p.truncated
    for _key, obj in p:
        assert isinstance(obj, dict)


def test_truncated_number_is_dropped_not_shortened() -> None:
    cut = JSON_22[: JSON_22.index('"size":21474836480') + len('"size":2147')]
    disks = parse_payload(cut)[0][1]["vm"]["disks"]
    assert disks == [{"id": 5, "name": "ROOT-5", "mountPoint": "/export/primary",
                      "path": f"/mnt/{POOL}/4c1e9f0a-5b7d-4e2a-8c3f-1a2b3c4d5e6f", TRUNCATED_KEY: True}]


# --------------------------------------------------------------------------- disks

def test_disks_22_example() -> None:
    lay = start_command_disks(line_of(SEND_22, JSON_22))
    assert lay is not None
    assert (lay.vm_name, lay.vm_id, lay.iso_device_id, lay.truncated) == ("i-2-5-VM", 5, 3, False)
    assert lay.disks == (Disk(0, 5, "ROOT-5", "ROOT", 0), Disk(1, 7, "data1", "DATADISK", 2),
                         Disk(2, 8, "data2", "DATADISK", 1))
    assert lay.device_order == (0, 2, 1)
    assert lay.creation_order == (5, 7, 8)
    assert lay.out_of_order
    assert lay.gaps == ()
    assert not lay.null_device
    assert lay.duplicate_device == ()
    assert lay.data_disks == 2
    assert not lay.many_data_disks
    assert lay.flags == ("out_of_order",)


@pytest.mark.parametrize("quoted", [False, True], ids=["4.11", "4.15-quoted"])
def test_disks_4x_example(quoted: bool) -> None:
    payload: Any = start_411(THREE)
    if quoted:
        payload = quote_415(payload)
    lay = start_command_disks(line_of(SEND_4X, payload))
    assert lay is not None
    assert lay.disks == (Disk(0, 5, "ROOT-5", "ROOT", 0), Disk(1, 7, "data1", "DATADISK", 2),
                         Disk(2, 8, "data2", "DATADISK", 1))
    assert (lay.vm_name, lay.vm_id, lay.iso_device_id) == ("i-2-5-VM", 5, 3)
    assert lay.out_of_order
    assert lay.device_order == (0, 2, 1)


def test_truncated_line_keeps_the_complete_disks() -> None:
    line = line_of(SEND_22, JSON_22)
    third = line.index('{"id":8,"name":"data2"')
    cut = line[: third + 60]  # in the middle of the 3rd disk
    assert parse_transport(cut) is not None
    assert not parse_transport(cut).complete
    lay = start_command_disks(cut)
    assert lay is not None
    assert lay.truncated
    assert [d.volume_id for d in lay.disks] == [5, 7]
    assert lay.iso_device_id is None


def test_truncated_4x_line_keeps_the_complete_disks() -> None:
    line = line_of(SEND_4X, quote_415(start_411(THREE)))
    third = line.index('"volumeType":"DATADISK"', line.index('"volumeType":"DATADISK"') + 1)
    lay = start_command_disks(line[: third + 200])
    assert lay is not None
    assert lay.truncated
    assert [d.volume_id for d in lay.disks] == [5, 7]
    assert lay.vm_name == "i-2-5-VM"


@pytest.mark.parametrize(("devs", "out_of_order", "gaps", "data_disks", "flags"), [
    pytest.param((0, 2, 1), True, (), 2, ("out_of_order",), id="0,2,1"),
    pytest.param((0, 2), False, (1,), 1, ("gaps",), id="0,2"),
    pytest.param((0, 1, 2, 4), False, (), 3, ("many_data_disks",), id="0,1,2,4"),
    pytest.param((0, 1, 2), False, (), 2, (), id="0,1,2"),
    pytest.param((0, 4, 1), True, (2,), 2, ("out_of_order", "gaps"), id="0,4,1"),
    pytest.param((1, 0), True, (), 1, ("out_of_order",), id="root-last"),
])
def test_disk_flags(devs: tuple[int, ...], out_of_order: bool, gaps: tuple[int, ...], data_disks: int,
                    flags: tuple[str, ...]) -> None:
    disks = [(5 + i, f"vol{i}", "ROOT" if d == 0 else "DATADISK", d) for i, d in enumerate(devs)]
    for payload in (start_411(disks), quote_415(start_411(disks))):
        lay = start_command_disks(line_of(SEND_4X, payload))
        assert lay is not None
        assert lay.device_order == devs
        assert (lay.out_of_order, lay.gaps, lay.data_disks, lay.flags) == (out_of_order, gaps, data_disks, flags)


def test_null_disk_seq() -> None:
    disks = [(5, "ROOT-5", "ROOT", 0), (7, "data1", "DATADISK", None)]
    lay = start_command_disks(line_of(SEND_4X, start_411(disks)))
    assert lay is not None
    assert lay.null_device
    assert lay.device_order == (0, None)
    assert not lay.out_of_order
    assert lay.gaps == ()
    assert lay.flags == ("null_device",)
    # "diskSeq": absent (Gson omits nulls) gives the same
    absent = start_411(disks, seq=False)
    for d in absent[0]["com.cloud.agent.api.StartCommand"]["vm"]["disks"][:2]:
        assert "diskSeq" not in d
    lay2 = start_command_disks(line_of(SEND_4X, absent))
    assert lay2 is not None
    assert lay2.null_device
    assert lay2.device_order == (None, None)


def test_duplicate_device() -> None:
    lay = start_command_disks(line_of(SEND_4X, start_411([(5, "ROOT-5", "ROOT", 0), (7, "d1", "DATADISK", 1),
                                                           (8, "d2", "DATADISK", 1)])))
    assert lay is not None
    assert lay.duplicate_device == (1,)
    assert lay.flags == ("duplicate_device",)
    # 2.2: a NULL device_id is printed as 0 (VolumeTO primitive) -> duplicate 0
    json_dup = JSON_22.replace('"deviceId":2', '"deviceId":0')
    lay22 = start_command_disks(line_of(SEND_22, json_dup))
    assert lay22 is not None
    assert lay22.duplicate_device == (0,)


def test_extract_disks_accepts_wrapper_and_object() -> None:
    p = parse_payload(JSON_22)
    by_obj = extract_disks(p[0][1])
    by_wrapper = extract_disks({"StartCommand": p[0][1]})
    raw = extract_disks(json.loads(JSON_22)[0])
    assert by_obj == by_wrapper == raw
    assert by_obj.as_dict()["flags"] == ["out_of_order"]


@pytest.mark.parametrize("message", [
    "Seq 3-1: Sending  { Cmd , MgmtId: 1, via: 3, Ver: v1, Flags: 100011, [{\"StopCommand\":{\"vmName\":\"x\"}}] }",
    "Seq 3-1: Received:  { Ans: , MgmtId: 1, via: 3, Ver: v1, Flags: 10, { StartAnswer } }",
    "Seq 3-1: Processing:  { Ans: , MgmtId: 1, via: 3, Ver: v1, Flags: 10, [{\"StartAnswer\":{\"vm\":{}}}] }",
    "Processing command: com.cloud.agent.api.StartCommand",
])
def test_start_command_disks_ignores_other_lines(message: str) -> None:
    assert start_command_disks(message) is None


def test_fifty_kb_line_is_fast() -> None:
    disks = [(5, "ROOT-5", "ROOT", 0)] + [(10 + i, f"data{i}", "DATADISK", i) for i in range(1, 60) if i != 3]
    line = line_of(SEND_4X, quote_415(start_411(disks)))
    assert len(line) > 50_000
    t0 = time.perf_counter()
    for _ in range(20):
        lay = start_command_disks(line)
    per_call = (time.perf_counter() - t0) / 20
    assert lay is not None
    assert len(lay.disks) == 59
    assert lay.data_disks == 58
    assert per_call < 0.05, per_call
    # the cut version goes through the repair path and stays usable
    cut = line[: len(line) * 2 // 3]
    lay_cut = start_command_disks(cut)
    assert lay_cut is not None
    assert lay_cut.truncated
    assert 0 < len(lay_cut.disks) < 59
    assert all(re.fullmatch(r"data\d+|ROOT-5", d.name or "") for d in lay_cut.disks)
