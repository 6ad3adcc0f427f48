#!/usr/bin/env python3
"""Generates the DAR-shaped sample register in ./source, deterministically (same bytes every run).

Entities: Postnummer (plain), Husnummer and Adresse (bitemporal: registration and effect periods,
with some history), shaped like Denmark's address register (DAR). Run: python3 generate.py
"""
import json
import os
import random
import uuid

rng = random.Random(20261122)
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "source")
os.makedirs(out, exist_ok=True)

STREETS = ["Vestergade", "Østergade", "Nørregade", "Søndergade", "Algade", "Kirkevej", "Skolevej",
           "Møllevej", "Bakkevej", "Strandvejen", "Åboulevarden", "Ringvejen", "Parkvej", "Engvej"]
TOWNS = [(8000, "Aarhus C"), (8200, "Aarhus N"), (2100, "København Ø"), (2200, "København N"),
         (5000, "Odense C"), (9000, "Aalborg"), (7100, "Vejle"), (6700, "Esbjerg"), (4000, "Roskilde"),
         (3000, "Helsingør"), (8600, "Silkeborg"), (7400, "Herning"), (8700, "Horsens"), (6000, "Kolding")]


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def ts(year, month, day, hour=0):
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:00:00Z"


def history(first_year):
    """One to three registrations; all but the last ended when the next began."""
    count = rng.choice([1, 1, 1, 2, 2, 3])
    starts = sorted({(first_year + i * 2 + rng.randint(0, 1), rng.randint(1, 12), rng.randint(1, 28)) for i in range(count)})
    periods = []
    for i, (y, m, d) in enumerate(starts):
        begin = ts(y, m, d, 8)
        end = ts(*starts[i + 1], 8) if i + 1 < len(starts) else None
        periods.append((begin, end))
    return periods


def write_jsonl(name, rows):
    with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


postnumre = [{"postnr": nr, "navn": navn, "landsdel": rng.choice(["Jylland", "Fyn", "Sjælland"])} for nr, navn in TOWNS]
write_jsonl("Postnummer", postnumre)

husnumre, adresser = [], []
for h in range(900):
    hid = uid()
    street = rng.choice(STREETS)
    number = rng.randint(1, 180)
    postnr = rng.choice(TOWNS)[0]
    periods = history(2015 + rng.randint(0, 4))
    for i, (begin, end) in enumerate(periods):
        husnumre.append({
            "id": hid,
            "husnummertekst": f"{number}{'' if i == 0 else chr(ord('A') + i - 1)}",
            "vejnavn": street,
            "postnr": postnr,
            "status": "gældende" if end is None else "historisk",
            "adgangspunkt": {"type": "Point", "coordinates": [round(8 + rng.random() * 4, 6), round(55 + rng.random() * 2, 6)]},
            "registreringfra": begin, "registreringtil": end,
            "virkningfra": begin, "virkningtil": None,
        })
    for a in range(rng.randint(1, 4)):
        aid = uid()
        floor = rng.choice([None, "st", "1", "2", "3"])
        door = None if floor is None else rng.choice(["th", "tv", "mf"])
        for begin, end in history(2016 + rng.randint(0, 4)):
            adresser.append({
                "id": aid,
                "husnummer": hid,
                "etagebetegnelse": floor,
                "dørbetegnelse": door,
                "adressebetegnelse": f"{street} {number}{', ' + floor + '.' if floor else ''}{' ' + door if door else ''}, {postnr}",
                "status": "gældende" if end is None else "historisk",
                "registreringfra": begin, "registreringtil": end,
                "virkningfra": begin, "virkningtil": None,
            })

write_jsonl("Husnummer", husnumre)
write_jsonl("Adresse", adresser)
print(f"Postnummer {len(postnumre)}, Husnummer {len(husnumre)}, Adresse {len(adresser)} rows in {out}")
