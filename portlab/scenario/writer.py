"""Writing scenarios: the model back to TOML that :func:`~portlab.scenario.loads` reads."""

from __future__ import annotations

from typing import Sequence

from .model import Firewall, Rule, Scenario


# -------------------------------------------------------------------------- writing

def _quote(text: str) -> str:
    """A TOML basic string (JSON's escapes are not all TOML's, so write our own)."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return _quote(str(value))


def _inline(pairs: Sequence[tuple[str, object]]) -> str:
    return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in pairs if v is not None) + " }"


def _rule_array(key: str, rules: Sequence[Sequence[tuple[str, object]]]) -> list[str]:
    if not rules:
        return [f"{key} = []"]
    return [f"{key} = ["] + [f"  {_inline(r)}," for r in rules] + ["]"]


def _nft_pairs(rule: Rule) -> list[tuple[str, object]]:
    return [("action", rule.action), ("protocol", rule.protocol),
            ("ports", str(rule.ports) if rule.ports else None),
            ("source", rule.source), ("destination", rule.destination),
            ("with", rule.reject_with), ("name", rule.name)]


def _aws_pairs(rule: Rule, peer: str) -> list[tuple[str, object]]:
    return [("protocol", rule.protocol or "all"), ("ports", str(rule.ports) if rule.ports else None),
            (peer, getattr(rule, peer)), ("name", rule.name)]


def _azure_pairs(rule: Rule) -> list[tuple[str, object]]:
    return [("priority", rule.priority), ("name", rule.name),
            ("action", "allow" if rule.action == "accept" else "deny"),
            ("protocol", rule.protocol or "*"), ("ports", str(rule.ports) if rule.ports else "*"),
            ("source", rule.source or "*"), ("destination", rule.destination or "*")]


def _firewall_lines(section: str, fw: Firewall) -> list[str]:
    lines = [f"[{section}]", f"style = {_quote(fw.style)}"]
    if fw.style == "nftables":
        lines += [f"policy = {_quote(fw.policy)}", f"output_policy = {_quote(fw.output_policy)}",
                  f"stateful = {_value(fw.stateful)}"]
        if fw.forward_drop_new_from is not None:
            lines.append(f"forward_drop_new_from = {_quote(fw.forward_drop_new_from)}")
        lines += _rule_array("rules", [_nft_pairs(r) for r in fw.rules])
        lines += _rule_array("output", [_nft_pairs(r) for r in fw.output])
    elif fw.style == "aws-sg":
        lines += _rule_array("inbound", [_aws_pairs(r, "source") for r in fw.rules])
        lines += _rule_array("outbound", [_aws_pairs(r, "destination") for r in fw.output])
    else:  # azure-nsg: the defaults (priority above 4096) come back by themselves
        lines += _rule_array("inbound", [_azure_pairs(r) for r in fw.rules if r.priority <= 4096])
        lines += _rule_array("outbound", [_azure_pairs(r) for r in fw.output if r.priority <= 4096])
    return lines


def to_toml(scenario: Scenario) -> str:
    """A scenario file that :func:`loads` reads back to an equal :class:`Scenario`."""
    lines = [f"name = {_quote(scenario.name)}", f"description = {_quote(scenario.description)}", "",
             "[scanner]", f"address = {_quote(str(scenario.scanner.address))}",
             f"network = {_quote(scenario.scanner.network)}"]
    if scenario.scanner.gateway:
        lines.append(f"gateway = {_quote(str(scenario.scanner.gateway))}")
    if scenario.scanner.firewall:
        lines += [""] + _firewall_lines("scanner.firewall", scenario.scanner.firewall)
    for net in scenario.networks:
        lines += ["", "[[networks]]", f"name = {_quote(net.name)}", f"cidr = {_quote(str(net.cidr))}"]
    for host in scenario.hosts:
        lines += ["", "[[hosts]]", f"name = {_quote(host.name)}", f"address = {_quote(str(host.address))}",
                  f"tcp = {_value(host.tcp)}", f"udp = {_value(host.udp)}"]
        if host.gateway:
            lines.append(f"gateway = {_quote(str(host.gateway))}")
        if host.firewall:
            lines += [""] + _firewall_lines("hosts.firewall", host.firewall)
    for router in scenario.routers:
        lines += ["", "[[routers]]", f"name = {_quote(router.name)}"]
        lines += _rule_array("interfaces", [[("network", i.network), ("address", str(i.address))]
                                            for i in router.interfaces])
        lines += [f"tcp = {_value(router.tcp)}", f"udp = {_value(router.udp)}"]
        if router.firewall:
            lines += [""] + _firewall_lines("routers.firewall", router.firewall)
        if router.nat:
            nat = router.nat
            lines += ["", "[routers.nat]", f"outside = {_quote(nat.outside)}", f"mapping = {_quote(nat.mapping)}",
                      f"filtering = {_quote(nat.filtering)}", f"port_allocation = {_quote(nat.port_allocation)}",
                      f"udp_timeout = {_value(nat.udp_timeout)}",
                      f"udp_stream_timeout = {_value(nat.udp_stream_timeout)}",
                      f"tcp_timeout = {_value(nat.tcp_timeout)}", f"hairpin = {_value(nat.hairpin)}"]
            lines += _rule_array("forwards", [[("protocol", f.protocol), ("port", f.port),
                                               ("to", f"{f.to_address}:{f.to_port}")] for f in nat.forwards])
    return "\n".join(lines) + "\n"
