"""The engine keeps each host's ports as columns (portlab.portcolumns.PortColumns).

Every reader of a result must see the same thing whether the ports are those columns
or an ordinary list of PortResults: the assembly is checked against a plain, one
PortResult per exchange, reference; the writers' column paths against their list
paths; and a change made through the list must never be hidden by stale columns.
"""

from __future__ import annotations

import errno
import pickle
import random
from datetime import datetime, timezone

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from portlab import engine
from portlab.formats import frame, jsonfmt, nmapxml, table
from portlab.portcolumns import PortColumns, columns_of
from portlab.registry import name_table
from portlab.results import HostResult, PortResult, ScanResult, TraceEvent
from portlab.states import Probe, Reply, ReplyKind, ScanType, classify
from portlab.targets import Target, sort_key
from portlab.transports.base import Exchange, ExchangeColumns, report_columns

STARTED = datetime(2026, 1, 1, tzinfo=timezone.utc)

# A few answers, shared the way transports share them, plus fresh equal copies.
REPLIES = {
    ScanType.CONNECT: [Reply(ReplyKind.CONNECTED), Reply.connect_error(errno.ECONNREFUSED),
                       Reply(ReplyKind.NONE), Reply.connect_error(errno.EHOSTUNREACH)],
    ScanType.SYN: [Reply(ReplyKind.SYN_ACK), Reply(ReplyKind.RST), Reply(ReplyKind.NONE), Reply.icmp(13)],
    ScanType.UDP: [Reply(ReplyKind.UDP_DATA), Reply.icmp(3), Reply(ReplyKind.NONE), Reply.icmp(10)],
}


def reference(scan_type, targets, exchanges, keep_trace):
    """What the engine must build, the slow and obvious way: one PortResult per exchange."""
    names = name_table(scan_type.protocol)
    hosts = {t.address: HostResult(t.address, t.name) for t in targets}
    sent = retries = 0
    for probe, reply, tries, rtt, trace in exchanges:
        verdict = classify(scan_type, reply)
        hosts.setdefault(probe.target, HostResult(probe.target)).ports.append(PortResult(
            probe.port, scan_type.protocol, verdict.state, verdict.reason, names[probe.port], tries, rtt,
            trace if keep_trace else ()))
        sent += tries
        retries += max(tries - 1, 0)
    for host in hosts.values():
        host.ports.sort(key=lambda p: p.port)
    return ScanResult(scan_type, "test", STARTED, 1.0, sorted(hosts.values(), key=lambda h: sort_key(h.address)),
                      probes_sent=sent, retries=retries)


def plain_copy(result: ScanResult) -> ScanResult:
    """The same result with every host's ports an ordinary list (the columns left live)."""
    hosts = []
    for host in result.hosts:
        columns = columns_of(host.ports)
        ports = [columns.row(i) for i in range(len(columns))] if columns is not None else list(host.ports)
        hosts.append(HostResult(host.address, host.name, ports, list(host.extraports)))
    return ScanResult(result.scan_type, result.transport, result.started, result.elapsed_s, hosts,
                      result.probes_sent, result.retries)


def every_reading(result: ScanResult):
    return (jsonfmt.dumps(result), table.render(result), table.render(result, show_all=True),
            nmapxml.dumps(result), result.counts(), [h.counts() for h in result.hosts])


@st.composite
def scans(draw):
    scan_type = draw(st.sampled_from(list(REPLIES)))
    addresses = draw(st.lists(st.sampled_from(["127.0.0.1", "127.0.0.2", "127.0.0.10", "::1"]),
                              min_size=1, max_size=3, unique=True))
    listed = addresses[:draw(st.integers(1, len(addresses)))]    # a transport may answer for more
    exchanges = []
    rng = random.Random(draw(st.integers(0, 2**32)))
    for address in addresses:
        for port in rng.sample(range(0, 65536), draw(st.integers(0, 80))):
            reply = rng.choice(REPLIES[scan_type])
            if rng.random() < 0.1:
                reply = Reply(reply.kind, reply.icmp_code, reply.errno)    # equal, not the same object
            tries = rng.choice([0, 1, 1, 1, 2, 3])
            rtt = None if reply.kind is ReplyKind.NONE else round(rng.random() / 100, 6)
            trace = ((TraceEvent(0.1, "sent", f"probe {port}"),) if rng.random() < 0.05 else ())
            exchanges.append(Exchange(Probe(address, port, scan_type), reply, tries, rtt, trace))
    rng.shuffle(exchanges)
    targets = [Target(a) for a in listed]
    return scan_type, targets, exchanges, draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(scans())
def test_assembled_columns_read_exactly_as_the_reference_list(case):
    scan_type, targets, exchanges, keep_trace = case
    built = engine.assemble(scan_type, "test", STARTED, 1.0, targets, exchanges, keep_trace)
    expected = reference(scan_type, targets, exchanges, keep_trace)
    # The writers read the live columns; the reference is plain lists.
    assert every_reading(built) == every_reading(expected)
    pd.testing.assert_frame_equal(frame.to_dataframe(built), frame.to_dataframe(expected))
    assert (built.probes_sent, built.retries) == (expected.probes_sent, expected.retries)
    # And port by port, which turns the columns into a list.
    assert built == expected
    assert jsonfmt.loads(jsonfmt.dumps(built)) == built


def as_batches(scan_type, exchanges, rng):
    """*exchanges* cut into pieces: some reported one by one, the others as
    ExchangeColumns sorted by port the way a forked shard sends them (traces None
    when the piece has none)."""
    singles, batches = [], []
    cuts = sorted(rng.sample(range(1, len(exchanges)), min(4, len(exchanges) - 1))) if exchanges else []
    for start, stop in zip([0, *cuts], [*cuts, len(exchanges)]):
        piece = exchanges[start:stop]
        if rng.random() < 0.3:
            singles.extend(piece)
            continue
        piece = sorted(piece, key=lambda e: e.probe.port)
        traces = [e.trace for e in piece]
        batches.append(ExchangeColumns(scan_type, [e.probe.target for e in piece], [e.probe.port for e in piece],
                                       [e.reply for e in piece], [e.tries for e in piece], [e.rtt for e in piece],
                                       traces if any(traces) else None))
    return singles, batches


@settings(max_examples=100, deadline=None)
@given(scans(), st.integers(0, 2**32))
def test_exchanges_reported_as_columns_assemble_as_the_same_exchanges_one_by_one(case, seed):
    scan_type, targets, exchanges, keep_trace = case
    singles, batches = as_batches(scan_type, exchanges, random.Random(seed))
    collector = engine.Collector(len(exchanges), None)
    for batch in batches:
        collector.columns(batch)
    for exchange in singles:
        collector(exchange)
    taken = collector.take(scan_type)
    assert collector.before == len(exchanges)
    built = engine.assemble(scan_type, "test", STARTED, 1.0, targets, taken, keep_trace)
    expected = reference(scan_type, targets, exchanges, keep_trace)
    assert every_reading(built) == every_reading(expected)
    assert (built.probes_sent, built.retries) == (expected.probes_sent, expected.retries)
    assert built == expected
    # A report that takes no columns (a plain callable) gets the very same exchanges.
    plain: list[Exchange] = []
    for batch in batches:
        report_columns(plain.append, batch)
    assert sorted(plain + singles) == sorted(exchanges)


def full_range(trace_ports=()):
    """A full-range connect result: a few open and dropped ports among closed ones."""
    refused, connected, silent = (Reply.connect_error(errno.ECONNREFUSED), Reply(ReplyKind.CONNECTED),
                                  Reply(ReplyKind.NONE))
    special = {22: connected, 80: connected, 6000: silent, 31337: silent}
    exchanges = [Exchange(Probe("127.0.0.1", port, ScanType.CONNECT), special.get(port, refused),
                          2 if port in (6000, 31337) else 1, None if port in (6000, 31337) else 1.2e-05,
                          (TraceEvent(0.0, "sent", "SYN"),) if port in trace_ports else ())
                 for port in range(1, 65536)]
    random.Random(4).shuffle(exchanges)
    return engine.assemble(ScanType.CONNECT, "connect", STARTED, 1.0, [Target("127.0.0.1")], exchanges,
                           keep_trace=bool(trace_ports))


def test_a_full_range_writes_from_the_columns_without_making_the_list():
    result = full_range()
    ports = result.hosts[0].ports
    assert type(ports) is PortColumns
    text, doc, xml = table.render(result), jsonfmt.dumps(result), nmapxml.dumps(result)
    assert ports.live, "the table, the JSON or the XML writer turned 65535 ports into PortResults"
    assert '<extraports state="closed" count="65531">' in xml
    assert "Not shown: 65531 closed tcp ports (conn-refused)" in text
    assert '"count": 65531' in doc
    assert every_reading(result) == every_reading(plain_copy(result))


def test_traced_ports_stay_listed_in_the_json_as_they_do_from_a_list():
    result = full_range(trace_ports=(443, 8080))
    assert every_reading(result) == every_reading(plain_copy(result))
    assert '"port": 443' in jsonfmt.dumps(result)


def test_a_change_through_the_list_is_what_the_writers_then_read():
    result = full_range()
    ports = result.hosts[0].ports
    ports[0].state = "open"             # port 1 now open, by hand
    ports.append(PortResult(0, "tcp", "open", "syn-ack"))
    assert not ports.live
    shown = table.render(result)
    assert "\n1/tcp" in shown and "\n0/tcp" in shown
    assert result.counts()["open"] == 4
    assert jsonfmt.loads(jsonfmt.dumps(result)) == result


def test_the_columns_act_as_the_list_they_stand_for():
    result = full_range()
    expected = plain_copy(result).hosts[0].ports
    ports = result.hosts[0].ports
    assert len(ports) == 65535 and ports == expected and expected == ports
    assert ports[21].port == 22 and ports[-1].port == 65535
    assert [p.port for p in ports[:3]] == [1, 2, 3]
    assert ports + [] == expected and [] + ports == expected
    assert pickle.loads(pickle.dumps(ports)) == expected
    ports.sort(key=lambda p: -p.port)
    assert ports[0].port == 65535


def test_a_live_loopback_scan_gives_columns_that_round_trip():
    result = engine.scan("127.0.0.1", ports="1-2000", scan_type="connect", keep_trace=False)
    assert type(result.hosts[0].ports) is PortColumns
    again = jsonfmt.loads(jsonfmt.dumps(result))
    assert again == result
    assert all(p.rtt is None or round(p.rtt, 6) == p.rtt for p in result.hosts[0].ports)


def test_each_host_folds_its_answers_in_its_own_order():
    # The answers are numbered once for the whole scan; a host's XML and table fold
    # them in the order they first appear among that host's own ports.
    refused, silent = Reply.connect_error(errno.ECONNREFUSED), Reply(ReplyKind.NONE)
    exchanges = [Exchange(Probe(address, port, ScanType.CONNECT), first if port <= 100 else second, 1, None)
                 for address, first, second in (("127.0.0.1", refused, silent), ("127.0.0.2", silent, refused))
                 for port in range(1, 201)]
    random.Random(7).shuffle(exchanges)
    result = engine.assemble(ScanType.CONNECT, "connect", STARTED, 1.0,
                             [Target("127.0.0.1"), Target("127.0.0.2")], exchanges, keep_trace=False)
    assert every_reading(result) == every_reading(plain_copy(result))
    second_host = nmapxml.dumps(result).split("<host ")[2]
    assert second_host.index('state="filtered"') < second_host.index('state="closed"')
