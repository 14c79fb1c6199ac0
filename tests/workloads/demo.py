# SPDX-License-Identifier: MIT
# Workload: a small realistic program for "make demo".
"""Shows what a profile of ordinary code looks like.

Each round generates a CSV document of orders, parses it (parse_csv),
aggregates revenue per customer and region (aggregate), ranks customers
with a hand-written sort key (rank), and serialises the report to JSON
(serialize).  Deterministic: a fixed seed gives the same data every round.
Prints "ready" when the first round starts; runs for --seconds (default 5).
"""
import argparse
import io
import json
import random
import sys
import time

REGIONS = ("north", "south", "east", "west")


def generate(rng, rows):
    out = io.StringIO()
    out.write("order_id,customer,region,quantity,unit_price\n")
    for i in range(rows):
        out.write("%d,cust%03d,%s,%d,%.2f\n" % (
            i, rng.randrange(200), rng.choice(REGIONS),
            rng.randrange(1, 20), rng.uniform(1, 100)))
    return out.getvalue()


def parse_csv(text):
    lines = text.splitlines()
    header = lines[0].split(",")
    records = []
    for line in lines[1:]:
        fields = line.split(",")
        rec = dict(zip(header, fields))
        rec["quantity"] = int(rec["quantity"])
        rec["unit_price"] = float(rec["unit_price"])
        records.append(rec)
    return records


def aggregate(records):
    per_customer = {}
    per_region = {}
    for rec in records:
        revenue = rec["quantity"] * rec["unit_price"]
        per_customer[rec["customer"]] = per_customer.get(rec["customer"], 0.0) + revenue
        per_region[rec["region"]] = per_region.get(rec["region"], 0.0) + revenue
    return per_customer, per_region


def rank(per_customer):
    def key(item):
        name, revenue = item
        return (-round(revenue, 2), name)
    return sorted(per_customer.items(), key=key)[:10]


def serialize(top, per_region):
    return json.dumps({
        "top_customers": [{"customer": c, "revenue": round(r, 2)} for c, r in top],
        "regions": {k: round(v, 2) for k, v in sorted(per_region.items())},
    }, indent=2, sort_keys=True)


def one_round(rng):
    text = generate(rng, 5000)
    records = parse_csv(text)
    per_customer, per_region = aggregate(records)
    top = rank(per_customer)
    return serialize(top, per_region)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    rng = random.Random(42)
    end = time.perf_counter() + args.seconds
    rounds = 0
    report = ""
    print("ready", flush=True)
    while time.perf_counter() < end:
        report = one_round(rng)
        rounds += 1
    print("%d rounds, last report %d bytes" % (rounds, len(report)))


if __name__ == "__main__":
    main()
    sys.exit(0)
