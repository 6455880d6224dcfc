"""The scan-timing charts: simulated sweeps, recordings against reruns, a real loopback run."""

from __future__ import annotations

import socket

import matplotlib.text
import pytest

from portlab import privatenet
from portlab.course.charts import timing
from portlab.course.theme import DARK, Chart, contrast


@pytest.fixture(scope="module")
def sweep():
    return timing.timing_data(port_counts=(100, 1000, 10000), filtered_shares=(0.0, 0.1, 0.5, 0.9),
                              templates=(4,))


def test_scenario_drops_the_share_asked_for_and_keeps_the_open_ports():
    row = timing.simulate(1000, 0.5, 4)
    assert row["filtered"] == 500
    assert row["open"] == 2            # 22 and 80 lie outside the dropped top half
    row = timing.simulate(100, 0.9, 4)
    assert row["open"] == 2            # 22 and 80 inside the dropped range: accept rules come first
    assert row["filtered"] == 90 - 2
    with pytest.raises(ValueError):
        timing.timing_scenario(100, 1.5)


def test_duration_grows_with_port_count_when_nothing_is_filtered(sweep):
    clear = sweep[sweep["filtered_share"] == 0].sort_values("ports")["duration_s"].tolist()
    assert clear == sorted(clear) and clear[-1] > 50 * clear[0]


def test_duration_grows_with_filtered_share(sweep):
    big = sweep[sweep["ports"] == 10000].sort_values("filtered_share")["duration_s"].tolist()
    assert big == sorted(big)
    assert big[-1] > 10 * big[0]        # 9000 silent probes against none
    # any filtered port costs at least two timeouts (a try and its retry), even in a small scan
    small = sweep[(sweep["ports"] == 100)].set_index("filtered_share")["duration_s"]
    assert small[0.1] >= 2 * 0.1 > small[0.0]


def test_simulate_agrees_with_a_full_simulated_scan():
    import portlab
    for ports, share, level in ((3000, 0.5, 4), (500, 0.2, 2)):
        result = portlab.scan(timing.TARGET, f"1-{ports}", "syn", scenario=timing.timing_scenario(ports, share),
                              timing=level, keep_trace=False)
        row = timing.simulate(ports, share, level)
        assert row["duration_s"] == pytest.approx(result.elapsed_s)
        assert row["filtered"] == result.counts()["filtered"] and row["open"] == result.counts()["open"]
        assert row["probes"] == result.probes_sent


def test_timing_data_is_deterministic():
    a = timing.timing_data(port_counts=(1000,), filtered_shares=(0.5,), templates=(3, 5))
    b = timing.timing_data(port_counts=(1000,), filtered_shares=(0.5,), templates=(3, 5))
    assert a.equals(b)


def test_templates_are_ordered_slowest_first():
    data = timing.template_data(ports=1000, filtered_share=0.1).sort_values("template")
    durations = data["duration_s"].tolist()
    assert durations == sorted(durations, reverse=True)
    assert durations[0] > 86400          # T0 (paranoid): days, for 1000 ports
    assert durations[-1] < 1             # T5 (insane): under a second
    # T0-T2 send one probe at a time; T3-T5 many
    assert data["max_parallel"].tolist()[:3] == [1, 1, 1] and min(data["max_parallel"].tolist()[3:]) > 1
    assert data["duration"].tolist()[0].endswith("days")


def test_human_duration():
    assert timing.human_duration(0.25) == "0.25 s"
    assert timing.human_duration(460) == "7.7 min"
    assert timing.human_duration(330020) == "3.8 days"


def test_recordings_and_their_simulated_reruns_agree_on_states():
    data = timing.recorded_vs_simulated(scan_types=("syn",))
    assert set(data["scenario"]) >= {"single-host", "home-nat", "ssh-2222"}
    assert data["same_states"].all()
    by = data.set_index("scenario")
    # every port filtered (home-nat) is slower than none filtered (ssh-2222), recorded and simulated
    assert by.loc["home-nat", "recorded_s"] > 10 * by.loc["ssh-2222", "recorded_s"]
    assert by.loc["home-nat", "simulated_s"] > 10 * by.loc["ssh-2222", "simulated_s"]


def _listen_in(lo: int, hi: int) -> socket.socket:
    for port in range(lo, hi):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen()
        return sock
    pytest.skip(f"no free port in {lo}-{hi} on loopback")


NO_PRIVATE_NET = privatenet.why_not()


@pytest.mark.skipif(NO_PRIVATE_NET is not None, reason=f"no private network namespace here: {NO_PRIVATE_NET}")
def test_measured_loopback_is_a_real_scan_of_a_private_loopback():
    # A listener on this machine's loopback: the measurement, in its own namespace, must not see it.
    with _listen_in(1500, 2000) as listener:
        port = listener.getsockname()[1]
        data = timing.measured_loopback(port_counts=(50, 2000), listen=(22, port + 1))
    assert data["ports"].tolist() == [50, 2000]
    assert data["open"].tolist() == [1, 2]     # its own listeners only: 22, then 22 and port + 1
    assert (data["duration_s"] > 0).all() and (data["source"] == "loopback").all()
    assert data.attrs["where"].startswith("This ran in a private network namespace of your own")


def test_measured_loopback_without_a_private_namespace_measures_nothing_and_says_why(monkeypatch):
    monkeypatch.setenv("PORTLAB_PRIVATE_NET", "off")
    data = timing.measured_loopback(port_counts=(100,))
    assert data.empty and list(data.columns) == list(timing.MEASURED_COLUMNS)
    assert data.attrs["where"] == ("No private network namespace here (PORTLAB_PRIVATE_NET=off is set), so this "
                                   "notebook did not time live scans of loopback (ports 1-5000 of a shared machine's "
                                   "loopback are other people's programs): the chart shows the simulator's lines only.")
    assert "Crosses" not in timing.duration_vs_ports(measured=data).text


def test_measured_loopback_refuses_other_addresses():
    with pytest.raises(ValueError, match="loopback"):
        timing.measured_loopback(port_counts=(10,), host="192.0.2.1")


def _texts(fig):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("name", ["ports", "filtered", "templates", "recorded"])
def test_charts_have_content_and_dark_text_reads(name, sweep, tmp_path):
    chart = {"ports": lambda: timing.duration_vs_ports(sweep),
             "filtered": lambda: timing.duration_vs_filtered(ports=3000, shares=(0.0, 0.5), templates=(4, 5)),
             "templates": lambda: timing.templates_chart(),
             "recorded": lambda: timing.recorded_vs_simulated_chart(
                 timing.recorded_vs_simulated(["home-nat", "ssh-2222"]))}[name]()
    assert isinstance(chart, Chart) and chart.text and chart.data is not None
    fig = chart.figure("dark")
    texts = _texts(fig)
    assert texts
    for t in texts:
        assert contrast(matplotlib.colors.to_hex(t.get_color()), DARK.background) >= 4.5, t.get_text()
    path = tmp_path / f"{name}.png"
    chart.save(str(path), "dark")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chart_content_matches_data(sweep):
    chart = timing.duration_vs_ports(sweep)
    ax = chart.figure("light").axes[0]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 1]
    assert len(lines) == 4                                   # one line per filtered share
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "simulated, 90% filtered"
    assert "1.8 s with 90% filtered" in chart.text

    chart = timing.templates_chart()
    ax = chart.figure("light").axes[0]
    widths = [p.get_width() for p in ax.patches]
    assert len(widths) == 6 and widths == sorted(widths, reverse=True)
    assert "-T0 (paranoid) 3.8 days" in chart.text
    assert "portlab: up to a fixed 1024; nmap: a window that adapts" in chart.text
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    by_template = {t.split()[0]: t.rsplit(", ", 1)[1] for t in ticks}
    assert by_template == {"-T0": "one at a time", "-T1": "one at a time", "-T2": "one at a time",
                           "-T3": "up to 1024 at once", "-T4": "up to 1024 at once", "-T5": "up to 1024 at once"}

    measured = timing.measured_loopback(port_counts=(100,))
    if measured.empty:
        pytest.skip(f"no private network namespace here: {measured.attrs['where']}")
    chart = timing.duration_vs_ports(sweep, measured)
    assert "live loopback" in " ".join(t.get_text() for t in chart.figure("light").axes[0].get_legend().get_texts())
    assert "100 ports in" in chart.text


def test_gallery():
    charts = timing.gallery()
    assert len(charts) == 4 and all(isinstance(c, Chart) for c in charts.values())
    assert set(charts) == {"duration-vs-ports", "duration-vs-filtered", "templates", "recorded-vs-simulated"}
    assert "filtered" in charts["duration-vs-filtered"].text and "-T0" in charts["templates"].text
