"""The port-state table, row by row, against docs/design.md's tables written out by hand here."""

import errno

import pytest

from portlab.states import (
    ICMP_UNREACH_REASONS, STATE_TABLE, PortState, Reply, ReplyKind, ScanType, classify, table_rows,
)

# (scan, reply, expected state, expected reason): docs/design.md section 4, "Port states", transcribed.
DESIGN_ROWS = [
    ("syn", Reply(ReplyKind.SYN_ACK), "open", "syn-ack"),
    ("syn", Reply(ReplyKind.RST), "closed", "reset"),
    ("syn", Reply(ReplyKind.NONE), "filtered", "no-response"),
    ("syn", Reply.icmp(0), "filtered", "net-unreach"),
    ("syn", Reply.icmp(1), "filtered", "host-unreach"),
    ("syn", Reply.icmp(2), "filtered", "proto-unreach"),
    ("syn", Reply.icmp(3), "filtered", "port-unreach"),
    ("syn", Reply.icmp(9), "filtered", "net-prohibited"),
    ("syn", Reply.icmp(10), "filtered", "host-prohibited"),
    ("syn", Reply.icmp(13), "filtered", "admin-prohibited"),
    ("connect", Reply(ReplyKind.CONNECTED), "open", "syn-ack"),
    ("connect", Reply.connect_error(errno.ECONNREFUSED), "closed", "conn-refused"),
    ("connect", Reply(ReplyKind.NONE), "filtered", "no-response"),
    ("connect", Reply.connect_error(errno.ETIMEDOUT), "filtered", "no-response"),
    ("connect", Reply.connect_error(errno.EHOSTUNREACH), "filtered", "host-unreach"),
    ("connect", Reply.connect_error(errno.ENETUNREACH), "filtered", "net-unreach"),
    ("connect", Reply.connect_error(errno.EACCES), "filtered", "admin-prohibited"),
    ("connect", Reply.connect_error(errno.EPERM), "filtered", "admin-prohibited"),
    ("connect", Reply.connect_error(errno.ENOPROTOOPT), "filtered", "proto-unreach"),
    ("udp", Reply(ReplyKind.UDP_DATA), "open", "udp-response"),
    ("udp", Reply.icmp(3), "closed", "port-unreach"),
    ("udp", Reply.icmp(0), "filtered", "net-unreach"),
    ("udp", Reply.icmp(1), "filtered", "host-unreach"),
    ("udp", Reply.icmp(2), "filtered", "proto-unreach"),
    ("udp", Reply.icmp(9), "filtered", "net-prohibited"),
    ("udp", Reply.icmp(10), "filtered", "host-prohibited"),
    ("udp", Reply.icmp(13), "filtered", "admin-prohibited"),
    ("udp", Reply(ReplyKind.NONE), "open|filtered", "no-response"),
]


@pytest.mark.parametrize("scan, reply, state, reason", DESIGN_ROWS,
                         ids=[f"{s}-{r.kind}-{r.icmp_code or r.errno or ''}" for s, r, _, _ in DESIGN_ROWS])
def test_design_row(scan, reply, state, reason):
    verdict = classify(scan, reply)
    assert (verdict.state.value, verdict.reason) == (state, reason)


def test_every_table_row_is_a_design_row():
    """No row in the table that docs/design.md does not give: the two are the same set."""
    design = {(ScanType(s), r.kind, r.icmp_code if r.kind is ReplyKind.ICMP_UNREACH else r.errno): (st, re)
              for s, r, st, re in DESIGN_ROWS}
    table = {key: (v.state.value, v.reason) for key, v in STATE_TABLE.items()}
    assert table == design


def test_icmp_code_3_means_filtered_to_tcp_and_closed_to_udp():
    assert classify(ScanType.SYN, Reply.icmp(3)).state is PortState.FILTERED
    assert classify(ScanType.UDP, Reply.icmp(3)).state is PortState.CLOSED


def test_unknown_icmp_code_is_filtered_and_named():
    verdict = classify("syn", Reply.icmp(4))
    assert verdict == (PortState.FILTERED, "icmp-unreach-code-4")


def test_unknown_errno_is_filtered_and_named():
    verdict = classify("connect", Reply.connect_error(errno.ECONNRESET))
    assert verdict == (PortState.FILTERED, "econnreset")


def test_reply_that_cannot_answer_that_scan_is_an_error():
    with pytest.raises(ValueError, match="cannot answer"):
        classify("connect", Reply(ReplyKind.SYN_ACK))
    with pytest.raises(ValueError):
        classify("bogus", Reply(ReplyKind.NONE))


def test_six_states_with_nmaps_spelling():
    assert [s.value for s in PortState] == [
        "open", "closed", "filtered", "unfiltered", "open|filtered", "closed|filtered"]
    assert str(PortState.OPEN_FILTERED) == "open|filtered"


def test_table_rows_for_notebooks():
    rows = table_rows()
    assert len(rows) == len(STATE_TABLE)
    assert {"scan_type": "connect", "reply": "connect-error", "detail": "ECONNREFUSED",
            "state": "closed", "reason": "conn-refused"} in rows
    assert set(ICMP_UNREACH_REASONS) == {0, 1, 2, 3, 9, 10, 13}
