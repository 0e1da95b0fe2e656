"""`redact`: every secret kind masked, keys kept, fast path, idempotent."""


from __future__ import annotations

import pytest

from logparse.redact import needs_redaction, redact

PEM_BODY = "MIIEpAIBAAKCAQEA7V1x\nq3m0Zl9abc+/def==\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            "GET  command=listVirtualMachines&apikey=AbCdEf123&signature=XyZ%2B987&response=json",
            "GET  command=listVirtualMachines&apikey=***&signature=***&response=json",
            id="url-apikey-signature",
        ),
        pytest.param("/client/api?command=login&sessionkey=c29tZQ%3D%3D", "/client/api?command=login&sessionkey=***",
                     id="url-sessionkey"),
        pytest.param('{"apiKey":"AbC","secretKey":"XyZ","user":"admin"}',
                     '{"apiKey":"***","secretKey":"***","user":"admin"}', id="json-camel-keys"),
        pytest.param('{"sessionkey": "abc", "signature" : "def"}', '{"sessionkey": "***", "signature" : "***"}',
                     id="json-spaces"),
        pytest.param('[{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","vncPassword":"s3cr3t","arch":"x86_64"}}}]',
                     '[{"StartCommand":{"vm":{"id":5,"name":"i-2-5-VM","vncPassword":"***","arch":"x86_64"}}}]',
                     id="json-vncPassword-2.2.14"),
        pytest.param('{"password":"p\\"w","username":"u"}', '{"password":"***","username":"u"}', id="json-escaped-quote"),
        pytest.param('{"accesskey":"AKIA1","secretkey":"wJalr","privatekey":"k"}',
                     '{"accesskey":"***","secretkey":"***","privatekey":"***"}', id="json-s3-keys"),
        pytest.param('"details":"{\\"password\\":\\"hunter2\\",\\"user\\":\\"a\\"}"',
                     '"details":"{\\"password\\":\\"***\\",\\"user\\":\\"a\\"}"', id="json-inside-json-string"),
        pytest.param("db.cloud.password=ENC(abc) db.cloud.username=cloud",
                     "db.cloud.password=*** db.cloud.username=cloud", id="properties-password"),
        pytest.param("Adding host with username=root, password=hunter2, url=http://kvm01",
                     "Adding host with username=root, password=***, url=http://kvm01", id="pair-in-text"),
        pytest.param("AsyncJobVO {id:123, userId: 2, sessionKey: Zm9vYmFy, instanceType: VirtualMachine}",
                     "AsyncJobVO {id:123, userId: 2, sessionKey: ***, instanceType: VirtualMachine}",
                     id="tostring-sessionKey"),
        pytest.param("Authorization: Basic YWRtaW46cGFzc3dvcmQ=\nnext line",
                     "Authorization: ***\nnext line", id="header-authorization"),
        pytest.param("Cookie: JSESSIONID=abc123; sessionkey=xyz", "Cookie: ***", id="header-cookie"),
        pytest.param("Set-Cookie: JSESSIONID=1A2B; Path=/client", "Set-Cookie: ***", id="header-set-cookie"),
        pytest.param("GET /client/api;jsessionid=ABCDEF?command=x", "GET /client/api;jsessionid=***?command=x",
                     id="url-jsessionid"),
        pytest.param(f"ssh key:\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}-----END RSA PRIVATE KEY-----\nafter",
                     "ssh key:\n-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----\nafter",
                     id="pem-multiline"),
        pytest.param("cert=-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n, next",
                     "cert=-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----\\n, next", id="pem-escaped"),
        pytest.param("-----BEGIN EC PRIVATE KEY-----\nMIIE truncated by rotation",
                     "-----BEGIN EC PRIVATE KEY-----***", id="pem-truncated"),
    ],
)
def test_redact_masks_each_secret_kind(raw: str, expected: str) -> None:
    assert redact(raw) == expected
    assert redact(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("AsyncJobVO {id:123, userId: 2, sessionKey: null, instanceType: VirtualMachine}", id="null"),
        pytest.param('{"password":"","user":"x"}', id="empty-json"),
        pytest.param('{"password":null}', id="json-null"),
        pytest.param("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", id="public-cert"),
        pytest.param("Invalid API key for user admin", id="words-only"),
    ],
)
def test_redact_leaves_non_secrets(text: str) -> None:
    assert redact(text) == text


def test_redact_fast_path_returns_the_same_object() -> None:
    text = "2012-03-01 14:02:11,110 DEBUG [cloud.async.AsyncJobManagerImpl] (Job-Executor-4:job-123) Executing"
    assert not needs_redaction(text)
    assert redact(text) is text


def test_redact_is_case_insensitive_on_keys() -> None:
    assert redact("ApiKEY=abc&SIGNATURE=def") == "ApiKEY=***&SIGNATURE=***"
    assert needs_redaction("x PASSWORD=y")


def test_redact_is_deterministic_and_keeps_structure() -> None:
    raw = '{"vncPassword":"a"} apikey=b\n-----BEGIN PRIVATE KEY-----\nc\n-----END PRIVATE KEY-----'
    once = redact(raw)
    assert once == redact(raw)
    assert once.count("***") == 3
    assert once.count("\n") == raw.count("\n") - 2  # only the key body's lines are gone
