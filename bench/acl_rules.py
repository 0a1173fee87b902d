#!/usr/bin/env python3
"""Writes the ACL of make bench's ACL scenarios: N rules (10,000 by default) in Mosquitto's
acl_file format, mixed as a deployment's would be, with the grants the bench clients need.

The bench clients connect anonymously with client ids hb<pid>-..., and use the topics
hermod-bench/<pid>/pair/<i> and hermod-bench/<pid>/fanout. So the anonymous section (the lines
before the first `user`) grants those with wildcard rules, among literal rules of its own; user
sections hold literal and wildcard rules; patterns with %u and %c, and deny rules that share the
bench topics' first level, make every check walk more than one branch of the trie.

    bench/acl_rules.py OUT [N]
"""
import sys


def rules(n: int) -> list[str]:
    lines = ["# make bench: %d rules" % n, "topic readwrite hermod-bench/+/pair/+", "topic readwrite hermod-bench/+/fanout"]
    count = 2
    # Patterns (10 %): per user and per client id, some deny, some under hermod-bench/.
    for i in range(n // 10):
        kind = i % 4
        if kind == 0:
            lines.append(f"pattern readwrite tenants/{i}/%u/#")
        elif kind == 1:
            lines.append(f"pattern write devices/{i}/%c/status")
        elif kind == 2:
            lines.append(f"pattern deny hermod-bench/{i}/secret/%c")
        else:
            lines.append(f"pattern read hermod-bench/%u/{i}/+")
        count += 1
    # Anonymous literal rules (20 %) beside the bench's grants.
    for i in range(n // 5):
        lines.append(f"topic read public/{i % 97}/station/{i}")
        count += 1
    # User sections with literal and wildcard rules, and denies, for the rest.
    user = 0
    while count < n:
        lines.append(f"user user{user}")
        for k in range(min(8, n - count)):
            if k % 4 == 3:
                lines.append(f"topic deny site/{user}/dev/{k}/secret")
            elif k % 4 == 2:
                lines.append(f"topic read fleet/{user}/+/telemetry/#")
            else:
                lines.append(f"topic readwrite site/{user}/dev/{k}")
            count += 1
        user += 1
    return lines


def main() -> None:
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    with open(out, "w") as f:
        f.write("\n".join(rules(n)) + "\n")


if __name__ == "__main__":
    main()
