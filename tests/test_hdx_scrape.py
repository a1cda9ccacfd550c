"""scrape-hdx against a CKAN-shaped HTTP server on 127.0.0.1 (injected 500s, timeouts, truncation) and moto S3.

The package records follow the real HDX record in ../shared/data/hdx/
hdx_dataset_metadata_political-violence.json (same keys; small files instead of the 40 MB XLSX).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List
from urllib.parse import parse_qs, urlparse

import pytest
from crisislake.hdx.ckan import CkanClient
from crisislake.hdx.scrape import FAILURES_FILE, STATE_FILE, HdxScraper, Sink, UnsafeKeyError

CSV_BYTES = b"event_id_cnty,event_date\r\nX1,2025-01-02\r\n"
UA = "crisislake-tests/1.0 (+loopback)"


class FakeHdx:
    """CKAN Action API + file downloads; ``plan[path]`` lists what the next requests get."""

    def __init__(self):
        self.packages: Dict[str, dict] = {}
        self.files: Dict[str, bytes] = {}
        self.plan: Dict[str, List[str]] = {}
        self.hits: Dict[str, int] = {}
        self.user_agents: List[str] = []
        self.generated: Dict[str, int] = {}  # path -> size of a generated body (streamed)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                fake.user_agents.append(self.headers.get("User-Agent", ""))
                url = urlparse(self.path)
                fake.hits[url.path] = fake.hits.get(url.path, 0) + 1
                action = fake.plan.get(url.path, ["ok"]).pop(0) if fake.plan.get(url.path) else "ok"
                if action == "500":
                    return self._send(500, b"boom")
                if action == "timeout":
                    time.sleep(1.0)
                    return self._send(200, b"late")
                if url.path.startswith("/api/3/action/"):
                    return self._api(url.path.rsplit("/", 1)[-1], parse_qs(url.query))
                if url.path in fake.generated:
                    return self._stream(fake.generated[url.path])
                body = fake.files.get(url.path)
                if body is None:
                    return self._send(404, b"not found")
                if action == "truncate":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    return None
                return self._send(200, body)

            def _api(self, name, query):
                if name == "package_show":
                    pkg = fake.packages.get(query.get("id", [""])[0])
                    if pkg is None:
                        return self._json(404, {"success": False, "error": {"message": "Not found"}})
                    return self._json(200, {"success": True, "result": pkg})
                if name == "package_search":
                    org = query.get("fq", [""])[0].replace("organization:", "")
                    unique = {p["id"]: p for p in fake.packages.values()}.values()
                    hits = [p for p in unique if not org or p["organization"]["name"] == org]
                    start, rows = int(query.get("start", ["0"])[0]), int(query.get("rows", ["10"])[0])
                    return self._json(200, {"success": True, "result": {"count": len(hits),
                                                                      "results": hits[start:start + rows]}})
                return self._json(400, {"success": False})

            def _json(self, status, payload):
                self._send(status, json.dumps(payload).encode(), "application/json")

            def _send(self, status, body, ctype="text/csv"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, size):
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                block = b"x" * (1 << 20)
                sent = 0
                while sent < size:
                    n = min(len(block), size - sent)
                    self.wfile.write(block[:n])
                    sent += n

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_package(self, name: str, files: Dict[str, bytes], org: str = "acled", fmt: str = "CSV",
                    last_modified: str = "2025-01-15T08:31:51.970130") -> dict:
        pkg_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        resources = []
        for filename, body in files.items():
            rid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{filename}"))
            path = f"/dataset/{pkg_id}/resource/{rid}/download/{filename}"
            self.files[path] = body
            resources.append({
                "id": rid, "package_id": pkg_id, "name": filename, "format": fmt, "hash": "",
                "url": self.base + path, "download_url": self.base + path, "last_modified": last_modified,
                "size": len(body), "url_type": "upload", "position": len(resources),
            })
        pkg = {
            "id": pkg_id, "name": name, "title": name.replace("-", " ").title(), "license_title": "Other",
            "dataset_source": "Armed Conflict Location & Event Data Project (ACLED)", "num_resources": len(resources),
            "organization": {"id": "b67e6c74", "name": org, "title": org.upper()}, "resources": resources,
        }
        self.packages[name] = self.packages[pkg_id] = pkg
        return pkg


@pytest.fixture()
def hdx():
    fake = FakeHdx()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def ticking_clock(minute: int = 0):
    ticks = itertools.count()
    start = datetime(2025, 1, 20, 12, minute, 0, tzinfo=timezone.utc)
    return lambda: start + timedelta(seconds=next(ticks))


def scraper(hdx: FakeHdx, root, **kwargs) -> HdxScraper:
    client = CkanClient(hdx.base, UA, timeout_s=0.5, max_retries=kwargs.pop("max_retries", 3), backoff_s=0.01)
    sink = kwargs.pop("sink", None) or Sink(str(root))
    return HdxScraper(client, sink, clock=ticking_clock(kwargs.pop("minute", 0)), **kwargs)


def published(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "_state" not in p.parts)


def test_downloads_resource_with_sidecar(hdx, tmp_path):
    pkg = hdx.add_package("political-violence-events-and-fatalities", {"events.csv": CSV_BYTES})
    rid = pkg["resources"][0]["id"]
    report = scraper(hdx, tmp_path).scrape(["political-violence-events-and-fatalities"])
    folder = f"political-violence-events-and-fatalities/{rid}/20250120T120000Z"
    assert published(tmp_path) == [f"{folder}/_sidecar.json", f"{folder}/events.csv"]
    sidecar = json.loads((tmp_path / folder / "_sidecar.json").read_text())
    assert (report.summary(), sidecar["resource_id"], sidecar["size"], sidecar["sha256"], sidecar["http_status"],
            sidecar["format"], sidecar["last_modified"], sidecar["retrieved_at"]) == (
        {"downloaded": 1, "unchanged": 0, "failed": 0}, rid, len(CSV_BYTES), hashlib.sha256(CSV_BYTES).hexdigest(),
        200, "CSV", "2025-01-15T08:31:51.970130", "20250120T120000Z")


def test_sends_configured_user_agent(hdx, tmp_path):
    hdx.add_package("ds", {"a.csv": CSV_BYTES})
    scraper(hdx, tmp_path).scrape(["ds"])
    assert set(hdx.user_agents) == {UA}


def test_unchanged_resource_skipped_without_download(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    path = urlparse(pkg["resources"][0]["url"]).path
    scraper(hdx, tmp_path).scrape(["ds"])
    second = scraper(hdx, tmp_path).scrape(["ds"])
    assert (second.summary(), hdx.hits[path]) == ({"downloaded": 0, "unchanged": 1, "failed": 0}, 1)


def test_new_last_modified_lands_a_new_retrieval(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    scraper(hdx, tmp_path).scrape(["ds"])
    pkg["resources"][0]["last_modified"] = "2025-02-01T00:00:00"
    hdx.files[urlparse(pkg["resources"][0]["url"]).path] = CSV_BYTES + b"X2,2025-01-03\r\n"
    pkg["resources"][0]["size"] += len(b"X2,2025-01-03\r\n")
    report = scraper(hdx, tmp_path, minute=5).scrape(["ds"])
    assert report.summary()["downloaded"] == 1
    assert len([p for p in published(tmp_path) if p.endswith("a.csv")]) == 2


def test_same_bytes_under_new_last_modified_not_republished(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    scraper(hdx, tmp_path).scrape(["ds"])
    pkg["resources"][0]["last_modified"] = "2025-02-01T00:00:00"
    report = scraper(hdx, tmp_path).scrape(["ds"])
    assert (report.summary()["unchanged"], len(published(tmp_path))) == (1, 2)


def test_server_errors_retried_until_success(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    path = urlparse(pkg["resources"][0]["url"]).path
    hdx.plan[path] = ["500", "500"]
    report = scraper(hdx, tmp_path).scrape(["ds"])
    assert (report.summary()["downloaded"], hdx.hits[path]) == (1, 3)


def test_api_500_retried(hdx, tmp_path):
    hdx.add_package("ds", {"a.csv": CSV_BYTES})
    hdx.plan["/api/3/action/package_show"] = ["500"]
    assert scraper(hdx, tmp_path).scrape(["ds"]).summary()["downloaded"] == 1


def test_timeout_retried(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    path = urlparse(pkg["resources"][0]["url"]).path
    hdx.plan[path] = ["timeout"]
    report = scraper(hdx, tmp_path).scrape(["ds"])
    assert (report.summary()["downloaded"], hdx.hits[path]) == (1, 2)


def test_truncated_body_not_published_and_dead_lettered(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    rid, path = pkg["resources"][0]["id"], urlparse(pkg["resources"][0]["url"]).path
    hdx.plan[path] = ["truncate"] * 3
    report = scraper(hdx, tmp_path, max_retries=2).scrape(["ds"])
    failures = json.loads((tmp_path / FAILURES_FILE).read_text())
    assert (report.summary()["failed"], published(tmp_path), list(failures)) == (1, [], [rid])
    assert "truncated: got 20 of 41 bytes" in failures[rid]["error"]
    assert failures[rid]["attempts"] == 3
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []  # the partial download is gone too


def test_dead_lettered_resource_retried_next_run_and_cleared(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    path = urlparse(pkg["resources"][0]["url"]).path
    hdx.plan[path] = ["500"] * 2
    scraper(hdx, tmp_path, max_retries=1).scrape(["ds"])
    second = scraper(hdx, tmp_path, max_retries=1).scrape(["ds"])
    assert (second.summary()["downloaded"], json.loads((tmp_path / FAILURES_FILE).read_text())) == (1, {})


def test_one_failing_resource_does_not_stop_the_others(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"gone.csv": CSV_BYTES, "b.csv": CSV_BYTES})
    del hdx.files[urlparse(pkg["resources"][0]["url"]).path]
    report = scraper(hdx, tmp_path).scrape(["ds"])
    assert [(r.resource_id, r.status) for r in report.results] == [
        (pkg["resources"][0]["id"], "failed"), (pkg["resources"][1]["id"], "downloaded")]
    assert "HTTP Error 404" in report.results[0].detail


def test_search_by_organization_pages_through_results(hdx, tmp_path):
    for name in ("acled-a", "acled-b", "acled-c"):
        hdx.add_package(name, {"x.csv": CSV_BYTES})
    hdx.add_package("other-org", {"x.csv": CSV_BYTES}, org="unhcr")
    client = CkanClient(hdx.base, UA, timeout_s=1, max_retries=0)
    names = [p["name"] for p in client.package_search(organization="acled", rows=2)]
    assert names == ["acled-a", "acled-b", "acled-c"]


def test_format_filter_skips_other_formats(hdx, tmp_path):
    hdx.add_package("ds", {"a.csv": CSV_BYTES})
    hdx.add_package("xl", {"b.xlsx": b"PK\x03\x04"}, fmt="XLSX")
    report = scraper(hdx, tmp_path, formats=["csv"]).scrape(["ds", "xl"])
    assert [r.dataset for r in report.results] == ["ds"]


def test_state_records_last_successful_fetch(hdx, tmp_path):
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    rid = pkg["resources"][0]["id"]
    scraper(hdx, tmp_path).scrape(["ds"])
    state = json.loads((tmp_path / STATE_FILE).read_text())[rid]
    assert (state["last_modified"], state["size"], state["sha256"]) == (
        "2025-01-15T08:31:51.970130", len(CSV_BYTES), hashlib.sha256(CSV_BYTES).hexdigest())


def test_large_download_streams_with_bounded_memory(hdx, tmp_path):
    size = 48 * 1024 * 1024
    pkg = hdx.add_package("big", {"big.csv": b""})
    hdx.generated[urlparse(pkg["resources"][0]["url"]).path] = size
    pkg["resources"][0]["size"] = size
    tracemalloc.start()
    report = scraper(hdx, tmp_path).scrape(["big"])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.summary()["downloaded"] == 1
    assert peak < 8 * 1024 * 1024  # a few 1 MiB chunks, not the 48 MiB body


def test_s3_sink_publishes_a_large_download_whole_and_leaves_no_staging(hdx, s3_endpoint):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"hdx-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    size = 11 * 1024 * 1024
    pkg = hdx.add_package("big", {"big.csv": b""})
    rid = pkg["resources"][0]["id"]
    hdx.generated[urlparse(pkg["resources"][0]["url"]).path] = size
    sink = Sink(f"s3://{bucket}/lake/raw/hdx")
    report = scraper(hdx, None, sink=sink).scrape(["big"])
    key = f"lake/raw/hdx/big/{rid}/20250120T120000Z/big.csv"
    head = client.head_object(Bucket=bucket, Key=key)
    sidecar = json.loads(client.get_object(Bucket=bucket, Key=key.rsplit("/", 1)[0] + "/_sidecar.json")["Body"].read())
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert (report.summary()["downloaded"], head["ContentLength"], sidecar["size"]) == (1, size, size)
    assert [k for k in keys if "staging" in k] == []


def test_s3_truncated_upload_aborted_not_published(hdx, s3_endpoint):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"hdx-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES})
    hdx.plan[urlparse(pkg["resources"][0]["url"]).path] = ["truncate"] * 2
    sink = Sink(f"s3://{bucket}/raw/hdx")
    report = scraper(hdx, None, sink=sink, max_retries=1).scrape(["ds"])
    # Keys ending in "/" are the empty-folder markers pyarrow keeps for folders it emptied.
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []) if not o["Key"].endswith("/")]
    assert (report.summary()["failed"], sorted(keys)) == (1, ["raw/hdx/_state/failures.json", "raw/hdx/_state/resources.json"])


def test_unknown_dataset_dead_lettered_and_others_fetched(hdx, tmp_path):
    hdx.add_package("ds", {"a.csv": CSV_BYTES})
    report = scraper(hdx, tmp_path).scrape(["no-such-dataset", "ds"])
    failures = json.loads((tmp_path / FAILURES_FILE).read_text())
    assert (report.summary(), list(failures)) == (
        {"downloaded": 1, "unchanged": 0, "failed": 1}, ["dataset:no-such-dataset"])


def test_a_resource_id_that_climbs_out_of_the_prefix_is_refused_and_others_fetched(hdx, tmp_path):
    root = tmp_path / "raw" / "hdx"
    pkg = hdx.add_package("ds", {"a.csv": CSV_BYTES, "b.csv": CSV_BYTES})
    pkg["resources"][0]["id"] = "../../../escaped"  # as a hostile or broken catalogue could serve it

    report = scraper(hdx, root).scrape(["ds"])

    assert not (tmp_path / "escaped").exists()
    assert [r.status for r in report.results] == ["failed", "downloaded"]
    assert "outside" in report.results[0].detail
    assert all(p.resolve().is_relative_to(root.resolve()) for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize("key", ["../x.csv", "ds/../../x.csv", "ds/./x.csv", "ds//x.csv", "ds\\..\\x.csv", ""])
def test_sink_refuses_keys_that_are_not_plain_paths_under_its_root(tmp_path, key):
    with pytest.raises(UnsafeKeyError):
        Sink(str(tmp_path)).uri(key)
