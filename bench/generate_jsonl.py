#!/usr/bin/env python3
"""N deterministic JSONL rows with ten columns of mixed types, for the file-source benchmark.
With a second argument `temporal`, every row also gets an open registration and effect period
(regfra, regtil, virkfra, virktil), for the temporal delta bench."""
import json
import random
import sys
import uuid

n = int(sys.argv[1])
temporal = len(sys.argv) > 2 and sys.argv[2] == "temporal"
period = {"regfra": "2020-01-01T00:00:00Z", "regtil": None, "virkfra": "2020-01-01T00:00:00Z", "virktil": None}
rng = random.Random(42)
out = sys.stdout
write = out.write
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
for i in range(n):
    row = {
        "id": i * 7 + 3,
        "name": f"row {i} {'abcdefghij'[i % 10] * (i % 17)}",
        "amount": round(rng.uniform(-1e6, 1e6), 2),
        "updated": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 60:02d}Z",
        "day": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "active": i % 3 == 0,
        "ref": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "attrs": {"k": i % 100, "tag": "t" + str(i % 7)},
        "score": rng.random(),
        "count": rng.randint(0, 1 << 40),
    }
    if temporal:
        row.update(period)
    write(dumps(row) + "\n")
