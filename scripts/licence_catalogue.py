"""Write the licence catalogue seeds from Microsoft's "Product names and service plan identifiers
for licensing" table (the CSV Microsoft publishes beside the Entra documentation page of that name).

    .venv/bin/python scripts/licence_catalogue.py "Product names and service plan identifiers for licensing.csv" \
        --as-of 2025-12-30

writes
* seeds/licence_products.csv: every product of the table (String ID, GUID, product name), so a
  SKU found in a licence snapshot is either known (whatever it carries) or reported as unknown;
* seeds/licence_service_plans.csv: every product carrying a service plan the rating reads
  (Audio Conferencing, pay-per-minute, dial-out basic, Communications Credits, the Calling Plans,
  Teams Phone), with the plan under the name the models use (government and regional variants of
  a plan are the same plan here),
and the table's date into the seeds' descriptions (seeds/_seeds.yml). Products Microsoft's table
does not list, or lists under a plan this project reads differently, are kept in CURATED below,
each with its reason; they win over the table.
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Service plan names in Microsoft's table -> the plan the models read.
PLANS = {
    "MCOMEETADV": "MCOMEETADV",
    "MCOMEETADV_GOV": "MCOMEETADV",
    "MCOMEETADV_AR_GCCHigh": "MCOMEETADV",
    "MCOMEETACPEA": "MCOMEETACPEA",
    "MCOMEETBASIC": "MCOMEETBASIC",
    "MCOMEETBASIC_GOV": "MCOMEETBASIC",
    "MCOPSTNC": "MCOPSTNC",
    "MCOPSTN1": "MCOPSTN1",
    "MCOPSTN2": "MCOPSTN2",
    "MCOPSTN5": "MCOPSTN5",
    "MCOPSTN6": "MCOPSTN6",
    "MCOPSTN8": "MCOPSTN8",
    "MCOEV": "MCOEV",
    "MCOEV_GOV": "MCOEV",
    "MCOEVSMB": "MCOEV",
    "MCOEV_VIRTUALUSER": "MCOEV",
    "MCOEV_VIRTUALUSER_GOV": "MCOEV",
}

# (String ID, product name, plans): products the table omits or this project reads differently.
CURATED = [
    # The admin-center export and the billing pages call Communications Credits MCOPSTNPP; the
    # table gives that String ID to a retired usage-based calling plan.
    ("MCOPSTNPP", "Communications Credits", ["MCOPSTNC"]),
    # Sold as an add-on with dial-out to the USA and Canada; absent from the table.
    ("MCOMEETBASIC", "Microsoft Teams Audio Conferencing with dial-out to USA/CAN", ["MCOMEETBASIC"]),
    # The String ID some tenants' exports carry for the 120-minute domestic plan.
    ("MCOPSTN_5", "Microsoft 365 Domestic Calling Plan (120 minutes)", ["MCOPSTN5"]),
    # The suite without Teams keeps Teams Phone and Audio Conferencing (Teams is bought apart);
    # sold since 2024, not yet in the table.
    ("Microsoft_365_E5_(no_Teams)", "Microsoft 365 E5 (no Teams)", ["MCOMEETADV", "MCOEV"]),
    # An Australian calling plan of Telstra's, kept from the first catalogue.
    ("MCOPSTNEAU2", "Telstra Calling for Office 365", ["MCOPSTNEAU"]),
]


def clean(text: str) -> str:
    """The table's cells carry non-breaking and doubled spaces."""
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("microsoft_csv", type=Path)
    parser.add_argument("--as-of", required=True, help="the table's date, YYYY-MM-DD")
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    args = parser.parse_args()

    needed = {"Product_Display_Name", "String_Id", "GUID", "Service_Plan_Name"}
    try:
        with args.microsoft_csv.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = needed - set(reader.fieldnames or ())
            if missing:
                raise SystemExit(f"{args.microsoft_csv}: not Microsoft's table, no column {', '.join(sorted(missing))}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SystemExit(f"{args.microsoft_csv}: cannot read it: {error}") from None
    products: dict[str, tuple[str, str]] = {}
    plans: dict[str, set[str]] = {}
    for row in rows:
        sku = clean(row["String_Id"])
        products.setdefault(sku, (clean(row["GUID"]).lower(), clean(row["Product_Display_Name"])))
        plan = PLANS.get(clean(row["Service_Plan_Name"]))
        if plan:
            plans.setdefault(sku, set()).add(plan)
    for sku, name, curated_plans in CURATED:
        guid = products.get(sku, ("", name))[0]
        products[sku] = (guid, name)
        plans[sku] = set(curated_plans)

    order = sorted(products, key=str.upper)
    with (args.seeds / "licence_products.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["sku_part_number", "sku_id", "product_name"])
        writer.writerows([sku, *products[sku]] for sku in order)
    with (args.seeds / "licence_service_plans.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["sku_part_number", "product_name", "service_plan_name"])
        writer.writerows([sku, products[sku][1], plan] for sku in order if sku in plans for plan in sorted(plans[sku]))

    described = args.seeds / "_seeds.yml"
    text = described.read_text(encoding="utf-8")
    text, count = re.subn(
        r"product and service plan table of \d{4}-\d{2}-\d{2}", f"product and service plan table of {args.as_of}", text
    )
    if count != 2:
        raise SystemExit(f"{described}: expected the table's date in two seed descriptions, found {count}")
    described.write_text(text, encoding="utf-8")
    print(f"{len(products)} products, {sum(len(p) for p in plans.values())} service plan rows ({len(plans)} products)")


if __name__ == "__main__":
    main()
