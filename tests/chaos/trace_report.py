#!/usr/bin/env python3
"""Attributes a chaos run's reads to fault windows and the daemon's reasons.

Reads a CHAOS_TRACE file (tests/chaos/trace.h) and prints, per class, how many
reads went to a replica, the primary, 503 or errors in each phase of each fault
kind (while the fault is held, and from its heal to the next fault), and for
the reads of the traced class (CHAOS_TRACE_CLASS, default c1s) that did not
land on a replica, the servers' /v1/check reasons at that moment.

  tests/chaos/trace_report.py TRACE [--class c1s] [--top 25]
"""
import argparse
import bisect
import collections
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--class", dest="cls", default="c1s")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()

    reads = []  # (t, cls, outcome, reason, port)
    events = []  # (t, verb, kind, node)
    states = collections.defaultdict(list)  # server -> [(t, state)]
    for line in open(args.trace):
        parts = line.split()
        if len(parts) < 3:
            continue
        t = float(parts[0])
        if parts[1] == "R" and len(parts) >= 6:
            reads.append((t, parts[2], parts[3], parts[4], parts[5]))
        elif parts[1] == "F":
            events.append((t, parts[2], parts[3], parts[4] if len(parts) > 4 else ""))
        elif parts[1] == "S":
            states[parts[2]].append((t, " ".join(parts[3:5])))

    # Phases: from "inject K" to "healed K": "K held"; from "healed K" to the
    # next "inject": "after K".
    marks = []  # (t, phase)
    for t, verb, kind, node in events:
        if verb == "inject":
            marks.append((t, kind + " held"))
        elif verb == "healed":
            marks.append((t, "after " + kind))
    marks.sort()
    mark_t = [m[0] for m in marks]

    def phase(t):
        i = bisect.bisect_right(mark_t, t) - 1
        return marks[i][1] if i >= 0 else "before faults"

    state_t = {s: [x[0] for x in v] for s, v in states.items()}

    def state_at(server, t):
        i = bisect.bisect_right(state_t[server], t) - 1
        return states[server][i][1] if i >= 0 else "?"

    by = collections.defaultdict(collections.Counter)  # (cls, phase) -> outcome counts
    totals = collections.defaultdict(collections.Counter)
    why = collections.Counter()
    why_phase = collections.defaultdict(collections.Counter)
    for t, cls, outcome, reason, port in reads:
        ph = phase(t)
        by[(cls, ph)][outcome] += 1
        totals[cls][outcome] += 1
        if cls == args.cls and outcome != "replica":
            replicas = []
            for s in sorted(states):
                st = state_at(s, t)
                if not st.startswith("primary"):
                    replicas.append(st.split()[0])
            key = outcome + ": " + ",".join(sorted(replicas))
            why[key] += 1
            why_phase[ph][key] += 1

    def share(c):
        checked = c["replica"] + c["primary"]
        return 100.0 * c["replica"] / checked if checked else float("nan")

    print("== totals")
    all_c = collections.Counter()
    for cls in sorted(totals):
        c = totals[cls]
        all_c.update(c)
        print(f"{cls:7} {dict(c)}  replica share {share(c):.1f} %")
    print(f"all     replica share {share(all_c):.1f} %  (checked {all_c['replica'] + all_c['primary']})")

    nfaults = collections.Counter(kind for _, verb, kind, _ in events if verb == "inject")
    print("faults:", dict(nfaults))
    for cls in sorted(totals):
        print(f"\n== {cls}: per phase (primary/503/error reads; seconds; replica share)")
        dur = collections.Counter()
        for i, (t, ph) in enumerate(marks):
            end = marks[i + 1][0] if i + 1 < len(marks) else (reads[-1][0] if reads else t)
            dur[ph] += end - t
        rows = sorted(((ph, c) for (k, ph), c in by.items() if k == cls),
                      key=lambda x: -(x[1]["primary"]))
        for ph, c in rows:
            print(f"  {ph:26} {dur[ph]:7.1f}s  replica {c['replica']:7}  primary {c['primary']:6}"
                  f"  503 {c['503']:5}  read_err {c['read_error']:5}  share {share(c):5.1f} %")

    print(f"\n== {args.cls} reads not on a replica, by the replicas' /v1/check reasons")
    for key, n in why.most_common(args.top):
        print(f"  {n:7}  {key}")
    print(f"\n== the same, per phase (top 6 each)")
    for ph in sorted(why_phase, key=lambda p: -sum(why_phase[p].values())):
        print(f"  {ph}: {sum(why_phase[ph].values())}")
        for key, n in why_phase[ph].most_common(6):
            print(f"      {n:7}  {key}")


if __name__ == "__main__":
    sys.exit(main())
