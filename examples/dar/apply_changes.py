#!/usr/bin/env python3
"""Applies a scripted change set to a copy of the sample source, as a register's nightly edits would:
inserts, updates, a delete (Postnummer is plain: the row goes) and new registrations (Adresse and
Husnummer are bitemporal: the current registration is ended and a new one begins).

Usage: apply_changes.py SOURCE_DIR [TIMESTAMP]   (TIMESTAMP defaults to now, UTC)
"""
import datetime
import json
import os
import sys

source = sys.argv[1]
now = sys.argv[2] if len(sys.argv) > 2 else datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read(name):
    with open(os.path.join(source, f"{name}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write(name, rows):
    path = os.path.join(source, f"{name}.jsonl")
    with open(path + ".new", "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(path + ".new", path)  # atomic, as a well-behaved producer would


def new_registration(rows, index, **changes):
    """Ends the registration at rows[index] now and appends its successor with the changes."""
    old = rows[index]
    rows[index] = dict(old, registreringtil=now)
    rows.append(dict(old, registreringfra=now, registreringtil=None, **changes))


postnumre = read("Postnummer")
postnumre = [p for p in postnumre if p["postnr"] != 3000]                                     # delete
postnumre = [dict(p, navn="Aarhus C (Midtby)") if p["postnr"] == 8000 else p for p in postnumre]  # update
postnumre.append({"postnr": 8800, "navn": "Viborg", "landsdel": "Jylland"})                     # insert
write("Postnummer", postnumre)

adresser = read("Adresse")
current = [i for i, a in enumerate(adresser) if a["registreringtil"] is None]
new_registration(adresser, current[0], etagebetegnelse="4", adressebetegnelse=adresser[current[0]]["adressebetegnelse"] + " (4. sal)")
new_registration(adresser, current[1], status="nedlagt", virkningtil=now)                       # retired address
adresser.append(dict(adresser[current[2]], id="00000000-0000-4000-8000-000000000001",           # brand-new address
                     adressebetegnelse="Nybyggeriet 1, 8000", registreringfra=now, registreringtil=None,
                     virkningfra=now, virkningtil=None, status="gældende"))
write("Adresse", adresser)

husnumre = read("Husnummer")
current = [i for i, h in enumerate(husnumre) if h["registreringtil"] is None]
new_registration(husnumre, current[5], postnr=8800)
write("Husnummer", husnumre)

print(f"applied at {now}: Postnummer +1 ~1 -1; Adresse 2 new registrations, 1 new address; Husnummer 1 new registration")
