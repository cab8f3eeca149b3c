"""The monthly HTML report, built from the bundled sample and opened the way a person
opens it: in headless Chromium (Debian's `chromium`), with the network unreachable. A probe
script, added to a copy of the report only, measures every chart as the browser laid it out."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import duckdb
from conftest import pstn

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PER_TENANT_CHARTS = {
    "pool-burn-down",
    "pool-history",
    "calls-by-capability",
    "charges-by-reason",
    "charges-by-department",
    "charges-by-destination",
    "credits-balance-usd",
}
PROBE = """
<pre id="probe"></pre>
<script>
const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  return {
    id: svg.dataset.chart,
    tenant: svg.closest('section.tenant').id,
    width: box.width, height: box.height,
    title: svg.querySelector('title').textContent,
    heading: svg.querySelector('text').textContent,
    axis_labels: [...svg.querySelectorAll('text.axis-label')].map(t => t.textContent),
    drawn: svg.querySelectorAll('rect.bar, polyline.series').length,
    visible: [...svg.querySelectorAll('rect.bar, polyline.series')]
      .filter(e => { const b = e.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length,
  };
});
document.getElementById('probe').textContent = JSON.stringify(charts);
</script>
"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    assert CHROMIUM, "the report test needs Debian's chromium (make test installs it: `apt-get install chromium`)"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        # Offline: every host name fails and every connection goes to a closed port.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--hide-scrollbars",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    env = dict(
        os.environ,
        PSTN_RAW_DIR=str(root / "raw"),
        PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"),
    )
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_EXPORT_DIR", "PSTN_TARGET"):
        env.pop(key, None)
    result = pstn(env, "run")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    march = pstn(env, "report", "--month", "2024-03", "--out", str(root / "out" / "march.html"))
    assert march.returncode == 0, march.stderr
    latest = pstn(env, "report")
    assert latest.returncode == 0, latest.stderr
    return root, env, root / "out" / "march.html", Path(latest.stdout.split("report written: ")[1].strip())


@pytest.fixture(scope="module")
def rendered(reports, tmp_path_factory):
    """The March report as Chromium lays it out: the probe's measurements and the page text."""
    _, _, march, _ = reports
    folder = tmp_path_factory.mktemp("chromium")
    probed = folder / "probed.html"
    probed.write_text(march.read_text().replace("</body>", PROBE + "</body>"))
    dumped = chromium(
        "--virtual-time-budget=5000", "--window-size=1400,2400", "--dump-dom", probed.as_uri(), profile=folder / "p1"
    )
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    probe = re.search(r'<pre id="probe">(.*?)</pre>', dumped.stdout, re.S)
    assert probe and probe.group(1), "the probe did not run: " + dumped.stdout[:500]
    charts = json.loads(probe.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    text = re.sub(r"<[^>]+>", " ", dumped.stdout)
    return charts, re.sub(r"\s+", " ", text)


def test_the_report_is_one_self_contained_file(reports):
    _, _, march, latest = reports
    assert latest.name == "pstn-report-2024-06.html" and latest.parent.name == "reports"
    for path in (march, latest):
        html = path.read_text()
        assert "<script" not in html and "<link" not in html and "<img" not in html
        assert "@import" not in html and "url(" not in html and " src=" not in html
        # The only address is the SVG namespace, which is a name, never fetched.
        assert set(re.findall(r"https?://[^\"' )]+", html)) == {"http://www.w3.org/2000/svg"}


def test_every_chart_is_drawn_with_title_axes_and_data(rendered):
    charts, _ = rendered
    by_tenant: dict[str, set[str]] = {}
    for chart in charts:
        by_tenant.setdefault(chart["tenant"], set()).add(chart["id"])
        assert chart["width"] > 300 and chart["height"] > 100, chart
        assert chart["title"] and chart["title"] == chart["heading"], chart
        assert chart["axis_labels"] and all(chart["axis_labels"]), chart
    assert by_tenant["tenant-default"] == PER_TENANT_CHARTS
    assert by_tenant["tenant-fabrikam-kr"] == PER_TENANT_CHARTS
    default = {c["id"]: c for c in charts if c["tenant"] == "tenant-default"}
    # Every chart of the busy tenant has data on it, laid out with a size.
    assert all(c["drawn"] > 0 and c["visible"] == c["drawn"] for c in default.values()), default
    burn_down = default["pool-burn-down"]
    assert burn_down["title"] == "Dial-out pool burn-down, March 2024"
    assert burn_down["axis_labels"] == ["day of March 2024 (billing time zone)", "pool minutes (cumulative)"]
    assert default["pool-history"]["title"] == "Twelve months of the pool, Apr 23 to Mar 24"


def test_the_key_figures_are_those_of_the_marts(rendered, reports):
    _, text = rendered
    root = reports[0]
    # Contoso, March 2024 (hand-checked in test_end_to_end): 4,860 minutes, gone on the 14th.
    assert "Pool capacity 4,860 min" in text
    assert "Pool exhausted on 2024-03-14 overflow 1,888.9 min" in text
    assert "100 % on 14 Mar" in text and "80 % on 12 Mar" in text
    # The Korean tenant: 3 x 900 minutes, exhausted on the 26th, 6.11 USD of credits.
    assert "Pool capacity 2,700 min" in text and "2024-03-26" in text
    assert "Charged to credits 6.11 USD" in text
    with duckdb.connect(str(root / "wh" / "warehouse.duckdb"), read_only=True) as con:
        blocked = con.execute(
            "select count(*) from marts.fct_pstn_calls where tenant_id = 'default' "
            "and billing_month = date '2024-03-01' and is_blocked"
        ).fetchone()[0]
        balance = con.execute(
            "select closing_balance from marts.fct_credits_balance_daily where tenant_id = 'default' "
            "and balance_date = date '2024-03-31'"
        ).fetchone()[0]
        charged = con.execute(
            "select sum(rated_charge) from marts.rpt_monthly_charges where tenant_id = 'default' "
            "and billing_month = date '2024-03-01' and rated_capability = 'MCOPSTNPP'"
        ).fetchone()[0]
    assert blocked > 0 and f"Blocked calls {blocked} " in text
    assert f"Credits balance {balance:,.2f} USD end of 2024-03-31" in text
    assert f"Charged to credits {charged:,.2f} USD" in text
    for section in ("Pool forecast", "Top organizers", "Communications Credits", "Reconciliation with Microsoft"):
        assert section in text


def test_a_screenshot_shows_a_page_full_of_pictures(reports, tmp_path):
    _, _, march, _ = reports
    png = tmp_path / "report.png"
    shot = chromium("--window-size=1400,2400", f"--screenshot={png}", march.as_uri(), profile=tmp_path / "p")
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 2400)
    # A blank page of that size is ~10 kB; charts, tables and text make it far larger.
    assert len(data) > 150_000


def test_a_month_without_data_or_a_bad_month_is_a_clear_error(reports):
    _, env, _, _ = reports
    empty = pstn(env, "report", "--month", "2015-01")
    assert empty.returncode == 1 and "no pool data for 2015-01" in empty.stderr
    bad = pstn(env, "report", "--month", "March")
    assert bad.returncode == 1 and "--month must be YYYY-MM, not 'March'" in bad.stderr


def test_no_exports_or_no_pool_month_is_a_report_error_not_a_crash(tmp_path):
    """The nightly skips the report on a new installation (ReportError) instead of failing."""
    from pstn.report.monthly import MARTS, OPTIONAL, ReportError, write_report

    with pytest.raises(ReportError, match="no Parquet export of fct_pool_consumption_daily"):
        write_report(tmp_path / "exports", None)
    with duckdb.connect() as con:
        for mart in set(MARTS) - OPTIONAL:
            (tmp_path / "exports" / mart).mkdir(parents=True)
            con.execute(
                f"copy (select cast(null as date) as billing_month where false) "
                f"to '{tmp_path / 'exports' / mart / 'data_0.parquet'}' (format parquet)"
            )
    with pytest.raises(ReportError, match="the marts hold no pool month yet"):
        write_report(tmp_path / "exports", None)


def test_the_report_lists_every_calling_plan_pool(reports):
    """April 2024: northwind's Calling Plan pools, one row each (plan, country, minute type), with
    the figures of rpt_monthly_pool_usage; a tenant without Calling Plan users says so."""
    root, env, _, _ = reports
    april = pstn(env, "report", "--month", "2024-04", "--out", str(root / "out" / "april.html"))
    assert april.returncode == 0, april.stderr
    html = (root / "out" / "april.html").read_text()
    northwind = html[html.index('id="tenant-northwind"') :]
    pools = northwind[northwind.index("<h3>Calling Plan pools</h3>") :]
    pools = pools[: pools.index("</table>")]
    rows = [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", pools)
    ]
    assert rows[1:] == [
        ["MCOPSTN1", "US", "domestic", "", "2", "6,000 min", "45.0 min", "0.75 %", "", "0.0 min"],
        ["MCOPSTN2", "GB", "domestic", "", "1", "1,200 min", "20.0 min", "1.67 %", "2024-04-11", "10.0 min"],
        ["MCOPSTN2", "GB", "international", "", "1", "600 min", "600.0 min", "100.00 %", "2024-04-11", "16.7 min"],
        ["MCOPSTN5", "GB", "domestic", "", "2", "240 min", "240.0 min", "100.00 %", "2024-04-10", "30.0 min"],
    ]
    korean = html[html.index('id="tenant-fabrikam-kr"') : html.index('id="tenant-northwind"')]
    assert "No user held a Calling Plan this month." in korean
