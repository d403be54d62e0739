"""The sandbox answers like Jira: shapes checked against Atlassian's OpenAPI, driven by the jira library."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jira import JIRA, JIRAError
from jsonschema import Draft7Validator
from tracker_bridge_jira.sandbox import JiraSandbox, start_sandbox

from tracker_bridge._testsupport.unavailable import unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

# The shared data sits beside the repository: ../shared/specs from the repository root.
REPOSITORY = Path(__file__).resolve().parents[3]
SPEC = REPOSITORY.parent / "shared" / "specs" / "jira-cloud-platform-v3.openapi.json"
ADF = {
    "type": "doc",
    "version": 1,
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}],
}


@pytest.fixture(autouse=True)
def _spec_present() -> None:
    """Every test here needs the OpenAPI file: a skip locally, a failure under CI."""
    if not SPEC.exists():
        unavailable(f"Atlassian's OpenAPI file {SPEC} is not present (see ../shared/specs)")


@cache
def spec() -> dict[str, Any]:
    """Atlassian's Jira Cloud platform REST v3 OpenAPI description."""
    loaded: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return loaded


def response_schema(path: str, method: str = "get", status: str = "200") -> dict[str, Any]:
    """The JSON schema of one documented response."""
    operation = spec()["paths"][path][method]
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    return {**schema, "components": spec()["components"]}


def component(name: str) -> dict[str, Any]:
    """A named schema from the spec's components."""
    return {"$ref": f"#/components/schemas/{name}", "components": spec()["components"]}


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way ``instance`` breaks ``schema`` (OpenAPI nulls allowed where values are absent)."""
    validator = Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
        if e.instance is not None
    ]


def cloud_client(sandbox: JiraSandbox, max_retries: int = 0) -> JIRA:
    """A jira REST v3 client on a Cloud sandbox, with the sandbox user's API token."""
    return JIRA(
        sandbox.url,
        options={"rest_api_version": "3"},
        basic_auth=(sandbox.email, sandbox.token),
        max_retries=max_retries,
    )


@pytest.fixture
def cloud() -> Iterator[tuple[JiraSandbox, JIRA]]:
    """A Cloud sandbox and a v3 client with an API token."""
    sandbox = start_sandbox(flavor="cloud")
    client = cloud_client(sandbox, max_retries=0)
    yield sandbox, client
    client.close()  # type: ignore[no-untyped-call]  # untyped in jira 3.10
    sandbox.stop()


@pytest.fixture
def datacenter() -> Iterator[tuple[JiraSandbox, JIRA]]:
    """A Data Center sandbox and a v2 client with a personal access token."""
    sandbox = start_sandbox(flavor="datacenter")
    client = JIRA(sandbox.url, token_auth=sandbox.token, max_retries=0)
    yield sandbox, client
    client.close()  # type: ignore[no-untyped-call]  # untyped in jira 3.10
    sandbox.stop()


def create(client: JIRA, summary: str, labels: list[str], description: Any = None) -> str:
    """Create an issue through the library and return its key."""
    fields: dict[str, Any] = {
        "project": {"key": "SEC"},
        "issuetype": {"id": "10004"},
        "summary": summary,
        "labels": labels,
        "security": {"name": "Security team"},
    }
    if description is not None:
        fields["description"] = description
    return str(client.create_issue(fields=fields, prefetch=False).key)


def test_cloud_metadata_matches_the_openapi_schemas(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """serverInfo, myself, field, project, createmeta and security levels have Cloud's shapes."""
    _, client = cloud
    checks = {
        "/rest/api/3/serverInfo": client.server_info(),
        "/rest/api/3/myself": client.myself(),
        "/rest/api/3/field": client.fields(),
        "/rest/api/3/project/{projectIdOrKey}": client.project("SEC").raw,
        "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes": client._get_json(
            "issue/createmeta/SEC/issuetypes"
        ),
        "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}": client._get_json(
            "issue/createmeta/SEC/issuetypes/10004"
        ),
        "/rest/api/3/project/{projectKeyOrId}/securitylevel": client._get_json(
            "project/SEC/securitylevel"
        ),
    }
    found = {path: problems(response_schema(path), body) for path, body in checks.items()}
    assert {path: [] for path in checks} == found
    assert "Cloud" == client.deploymentType


def test_cloud_createmeta_fields_match_field_metadata(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """Each create-screen field has FieldCreateMetadata's required keys, security included."""
    _, client = cloud
    page = client._get_json("issue/createmeta/SEC/issuetypes/10004")
    found = [problems(component("FieldCreateMetadata"), f) for f in page["fields"]]
    assert [[] for _ in page["fields"]] == found
    assert "security" in {f["fieldId"] for f in page["fields"]}


def test_cloud_issue_comment_transition_shapes(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """Issue, comment, transitions and changelog answers match IssueBean and friends."""
    _, client = cloud
    key = create(client, "CVD-2026-0001", ["cvd-report-CVD-2026-0001"], ADF)
    comment = client.add_comment(key, ADF, visibility={"type": "role", "value": "Administrators"})
    client.transition_issue(key, "31")
    issue = client.issue(key, expand="changelog").raw
    fields = issue["fields"]
    found = {
        "issue": problems(response_schema("/rest/api/3/issue/{issueIdOrKey}"), issue),
        "status": problems(component("StatusDetails"), fields["status"]),
        "security": problems(component("SecurityLevel"), fields["security"]),
        "comments": problems(component("PageOfComments"), fields["comment"]),
        "comment": problems(
            response_schema("/rest/api/3/issue/{issueIdOrKey}/comment", "post", "201"), comment.raw
        ),
        "changelog": problems(component("PageOfChangelogs"), issue["changelog"]),
        "transitions": problems(
            response_schema("/rest/api/3/issue/{issueIdOrKey}/transitions"),
            client._get_json(f"issue/{key}/transitions"),
        ),
    }
    assert {name: [] for name in found} == found
    assert issue["self"].startswith("http://127.0.0.1:")
    assert {"type": "role", "value": "Administrators"}.items() <= comment.raw["visibility"].items()
    history_items = [i for h in issue["changelog"]["histories"] for i in h["items"]]
    assert [("status", "To Do", "Done")] == [
        (i["field"], i["fromString"], i["toString"]) for i in history_items
    ]


def test_cloud_search_jql_pages_with_tokens(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """search/jql pages by nextPageToken until isLast, in SearchAndReconcileResults shape."""
    _, client = cloud
    keys = [create(client, f"CVD-2026-000{n}", [f"cvd-report-CVD-2026-000{n}"]) for n in (1, 2, 3)]
    jql = "project = SEC ORDER BY updated ASC"
    first = client.enhanced_search_issues(jql, maxResults=2, fields=["labels"], json_result=True)
    second = client.enhanced_search_issues(
        jql, nextPageToken=first["nextPageToken"], maxResults=2, fields=["labels"], json_result=True
    )
    schema = response_schema("/rest/api/3/search/jql")
    assert ([], []) == (problems(schema, first), problems(schema, second))
    assert (False, True) == (first["isLast"], second["isLast"])
    assert keys == [i["key"] for i in first["issues"] + second["issues"]]
    every = client.enhanced_search_issues(jql, maxResults=0)
    assert keys == [i.key for i in every]


def test_cloud_old_search_is_gone(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """The removed Cloud /search answers 410 with Atlassian's migration message."""
    _, client = cloud
    with pytest.raises(JIRAError) as caught:
        client._session.get(client._get_url("search"), params={"jql": "project = SEC"})
    assert 410 == caught.value.status_code
    assert caught.value.text is not None
    assert "search/jql" in caught.value.text


def test_datacenter_search_pages_by_offset(datacenter: tuple[JiraSandbox, JIRA]) -> None:
    """Data Center /search pages by startAt/maxResults/total, in SearchResults shape."""
    _, client = datacenter
    keys = [create(client, f"CVD-2026-000{n}", [f"cvd-report-CVD-2026-000{n}"]) for n in (1, 2, 3)]
    jql = "project = SEC ORDER BY updated ASC"
    page = client.search_issues(jql, startAt=2, maxResults=2, json_result=True, fields=["labels"])
    assert [] == problems(response_schema("/rest/api/3/search"), page)
    assert (2, 2, 3) == (page["startAt"], page["maxResults"], page["total"])
    every = client.search_issues(jql, maxResults=False)
    assert keys == [i.key for i in every]
    assert "Server" == client.deploymentType


def test_datacenter_has_no_search_jql_or_v3(datacenter: tuple[JiraSandbox, JIRA]) -> None:
    """Data Center answers 404 for Cloud-only search/jql."""
    _, client = datacenter
    with pytest.raises(JIRAError) as caught:
        client._get_json("search/jql", params={"jql": "project = SEC"})
    assert 404 == caught.value.status_code


def test_jql_minute_form_is_read_in_the_users_time_zone(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """A quoted "yyyy/MM/dd HH:mm" bound is the user's local minute, not UTC."""
    sandbox, client = cloud
    key = create(client, "CVD-2026-0001", ["cvd-report-CVD-2026-0001"])
    local = client.issue(key).fields.updated  # e.g. 2026-11-02T01:00:05.123-0800
    minute = local[:16].replace("-", "/").replace("T", " ")
    same_minute = client.enhanced_search_issues(f'updated >= "{minute}"', json_result=True)
    utc_minute = sandbox.team.issue(key).updated.strftime("%Y/%m/%d %H:%M")
    as_if_utc = client.enhanced_search_issues(f'updated >= "{utc_minute}"', json_result=True)
    assert ([key], []) == (
        [i["key"] for i in same_minute["issues"]],
        [i["key"] for i in as_if_utc["issues"]],
    )


def test_error_bodies_and_create_screen_checks(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """A label with a space and a field off the screen are 400 with an ErrorCollection body."""
    _, client = cloud
    with pytest.raises(JIRAError) as spaced:
        create(client, "x", ["two words"])
    off_screen = start_sandbox(flavor="cloud", security_field=False)
    try:
        other = cloud_client(off_screen, max_retries=0)
        with pytest.raises(JIRAError) as refused:
            create(other, "x", ["a"])
        other.close()  # type: ignore[no-untyped-call]  # untyped in jira 3.10
    finally:
        off_screen.stop()
    schema = response_schema("/rest/api/3/issue", "post", "400")
    assert spaced.value.response is not None
    assert refused.value.response is not None
    bodies = [spaced.value.response.json(), refused.value.response.json()]
    assert [[], []] == [problems(schema, body) for body in bodies]
    assert [400, 400] == [spaced.value.status_code, refused.value.status_code]
    assert ["labels", "security"] == [next(iter(body["errors"])) for body in bodies]


def test_rate_limit_answers_429_with_integer_retry_after(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """An injected 429 carries an integer Retry-After; the library's own retry then succeeds."""
    sandbox, _ = cloud
    sandbox.team.inject(429, path=r"/myself", times=1, retry_after=1)
    plain = cloud_client(sandbox, max_retries=0)
    with pytest.raises(JIRAError) as caught:
        plain.myself()
    assert caught.value.response is not None
    assert (429, "1") == (caught.value.status_code, caught.value.response.headers["Retry-After"])
    sandbox.team.inject(429, path=r"/myself", times=1, retry_after=0)
    resilient = cloud_client(sandbox, max_retries=1)
    assert sandbox.email == resilient.myself()["emailAddress"]
    assert 3 == sandbox.team.request_count(path=r"/myself")


def test_wiki_mentions_and_images_are_executed(datacenter: tuple[JiraSandbox, JIRA]) -> None:
    """Raw wiki markup notifies mentions and fetches images, so a neutraliser failure shows."""
    sandbox, client = datacenter
    create(client, "x", ["a"], "hi [~admin] !https://evil.example/p.png! {noformat}[~x]{noformat}")
    assert ["mention:admin", "image:https://evil.example/p.png"] == sandbox.team.side_effects()


def test_adf_mentions_and_media_are_recorded(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """ADF mention, media and card nodes are recorded as side effects."""
    sandbox, client = cloud
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "mention", "attrs": {"id": "5b10a2844c20165700ede21g"}},
                    {"type": "inlineCard", "attrs": {"url": "https://evil.example/card"}},
                ],
            }
        ],
    }
    create(client, "x", ["a"], document)
    assert [
        "mention:5b10a2844c20165700ede21g",
        "fetch:https://evil.example/card",
    ] == sandbox.team.side_effects()


def test_v3_refuses_wiki_strings(cloud: tuple[JiraSandbox, JIRA]) -> None:
    """Cloud v3 refuses a plain string where an Atlassian Document is required."""
    _, client = cloud
    with pytest.raises(JIRAError) as caught:
        create(client, "x", ["a"], "plain wiki")
    assert 400 == caught.value.status_code
