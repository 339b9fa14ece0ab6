"""Regenerate provinces.yaml's package-derived fields from vietnam-provinces.

Run once when the package's data changes; hand-kept fields (English names, merged provinces,
e-ID codes, portal hosts) live in the dictionaries below.  `cutover validate` cross-checks the
result against the package on every run, so a stale file is an error, not a silent drift.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from vietnam_provinces import NESTED_DIVISIONS_JSON_PATH

# code -> (English name, pre-2025 provinces merged (the seat's first), portal host label)
HAND: dict[int, tuple[str, list[str], str]] = {
    1: ("Hanoi", ["Hà Nội"], "hanoi"),
    4: ("Cao Bang", ["Cao Bằng"], "caobang"),
    8: ("Tuyen Quang", ["Tuyên Quang", "Hà Giang"], "tuyenquang"),
    11: ("Dien Bien", ["Điện Biên"], "dienbien"),
    12: ("Lai Chau", ["Lai Châu"], "laichau"),
    14: ("Son La", ["Sơn La"], "sonla"),
    15: ("Lao Cai", ["Lào Cai", "Yên Bái"], "laocai"),
    19: ("Thai Nguyen", ["Thái Nguyên", "Bắc Kạn"], "thainguyen"),
    20: ("Lang Son", ["Lạng Sơn"], "langson"),
    22: ("Quang Ninh", ["Quảng Ninh"], "quangninh"),
    24: ("Bac Ninh", ["Bắc Giang", "Bắc Ninh"], "bacninh"),
    25: ("Phu Tho", ["Phú Thọ", "Vĩnh Phúc", "Hòa Bình"], "phutho"),
    31: ("Hai Phong", ["Hải Phòng", "Hải Dương"], "haiphong"),
    33: ("Hung Yen", ["Hưng Yên", "Thái Bình"], "hungyen"),
    37: ("Ninh Binh", ["Ninh Bình", "Hà Nam", "Nam Định"], "ninhbinh"),
    38: ("Thanh Hoa", ["Thanh Hóa"], "thanhhoa"),
    40: ("Nghe An", ["Nghệ An"], "nghean"),
    42: ("Ha Tinh", ["Hà Tĩnh"], "hatinh"),
    44: ("Quang Tri", ["Quảng Trị", "Quảng Bình"], "quangtri"),
    46: ("Hue", ["Thừa Thiên Huế"], "hue"),
    48: ("Da Nang", ["Đà Nẵng", "Quảng Nam"], "danang"),
    51: ("Quang Ngai", ["Quảng Ngãi", "Kon Tum"], "quangngai"),
    52: ("Gia Lai", ["Bình Định", "Gia Lai"], "gialai"),
    56: ("Khanh Hoa", ["Khánh Hòa", "Ninh Thuận"], "khanhhoa"),
    66: ("Dak Lak", ["Đắk Lắk", "Phú Yên"], "daklak"),
    68: ("Lam Dong", ["Lâm Đồng", "Đắk Nông", "Bình Thuận"], "lamdong"),
    75: ("Dong Nai", ["Đồng Nai", "Bình Phước"], "dongnai"),
    79: ("Ho Chi Minh City", ["Hồ Chí Minh", "Bình Dương", "Bà Rịa – Vũng Tàu"], "hochiminhcity"),
    80: ("Tay Ninh", ["Long An", "Tây Ninh"], "tayninh"),
    82: ("Dong Thap", ["Tiền Giang", "Đồng Tháp"], "dongthap"),
    86: ("Vinh Long", ["Vĩnh Long", "Bến Tre", "Trà Vinh"], "vinhlong"),
    91: ("An Giang", ["Kiên Giang", "An Giang"], "angiang"),
    92: ("Can Tho", ["Cần Thơ", "Sóc Trăng", "Hậu Giang"], "cantho"),
    96: ("Ca Mau", ["Cà Mau", "Bạc Liêu"], "camau"),
}
# Level-1 agency e-ID codes named in DOMAIN.md (Decision 20/2020/QĐ-TTg); others unknown.
# Names people use that are neither the official name nor the English one.
ALIASES = {79: ["TP HCM", "TPHCM", "HCM", "HCMC", "Sài Gòn", "Saigon"]}
EID = {1: "000.00.00.H26", 31: "000.00.00.H24", 38: "000.00.00.H56", 79: "000.00.00.H29"}
UNIT_KEYS = {"xã": "communes", "phường": "wards", "đặc khu": "special_zones"}


def main() -> None:
    data = json.loads(NESTED_DIVISIONS_JSON_PATH.read_text(encoding="utf-8"))
    out = [
        "# yaml-language-server: $schema=https://cutover.invalid/schema/provinces.json",
        "# The 34 provincial-level units after Resolution 202/2025/QH15 (codes: Decision 19/2025/QĐ-TTg).",
        "# Names, codes and unit counts are cross-checked against the vietnam-provinces package by",
        "# `cutover validate`. Portal hosts follow the dichvucong.<province>.gov.vn pattern (inferred;",
        "# real deployments override them with an endpoint overlay). `procedures` is the provincial",
        "# administrative-procedure system, which stays up after the portal closes (host inferred).",
        "version: 1",
        "endpoints:",
        "  national: https://dichvucong.gov.vn",
        "  sso: https://xacthuc.dichvucong.gov.vn",
        "  edoc: https://vdxp.gov.vn  # National Document Interconnection Platform (inferred host)",
        "provinces:",
    ]
    for p in data:
        en, merged, host = HAND[p["code"]]
        counts = Counter(UNIT_KEYS[w["division_type"]] for w in p["wards"])
        kind = "city" if p["division_type"] == "thành phố trung ương" else "province"
        out += [
            f'  - code: "{p["code"]:02d}"',
            f"    slug: {p['codename'].replace('_', '-')}",
            f"    name: {p['name']}",
            f"    name_en: {en}",
            f"    type: {kind}",
            "    units: {"
            + ", ".join(f"{k}: {counts.get(k, 0)}" for k in ("communes", "wards", "special_zones"))
            + "}",
            f"    merged_from: [{', '.join(merged)}]",
        ]
        if p["code"] in ALIASES:
            out.append(f"    aliases: [{', '.join(ALIASES[p['code']])}]")
        if p["code"] in EID:
            out.append(f'    eid_code: "{EID[p["code"]]}"')
        out += [
            "    endpoints:",
            f"      portal: https://dichvucong.{host}.gov.vn",
            f"      procedures: https://motcua.{host}.gov.vn",
        ]
    Path("provinces.yaml").write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
