"""The specialization taxonomy loaded by migration 0002. Fields marked True need verified
credentials (a license, a bar admission) before an expert is matched in them."""

from __future__ import annotations

TAXONOMY: list[tuple[str, str, bool, list[tuple[str, str]]]] = [
    (
        "medicine",
        "Medicine",
        True,
        [
            ("radiology", "Radiology"),
            ("cardiology", "Cardiology"),
            ("oncology", "Oncology"),
            ("pediatrics", "Pediatrics"),
            ("psychiatry", "Psychiatry"),
            ("dermatology", "Dermatology"),
            ("pharmacology", "Pharmacology"),
            ("emergency", "Emergency medicine"),
            ("general_practice", "General practice"),
        ],
    ),
    (
        "law",
        "Law",
        True,
        [
            ("contracts", "Contracts"),
            ("privacy", "Privacy and data protection"),
            ("employment", "Employment"),
            ("intellectual_property", "Intellectual property"),
            ("immigration", "Immigration"),
            ("corporate", "Corporate"),
            ("litigation", "Litigation"),
        ],
    ),
    (
        "finance",
        "Finance",
        False,
        [
            ("tax", "Tax"),
            ("accounting", "Accounting"),
            ("investing", "Investing"),
            ("banking", "Banking"),
            ("insurance", "Insurance"),
            ("personal_finance", "Personal finance"),
        ],
    ),
    (
        "software",
        "Software engineering",
        False,
        [
            ("security", "Security"),
            ("python", "Python"),
            ("javascript", "JavaScript"),
            ("databases", "Databases"),
            ("infrastructure", "Infrastructure"),
            ("ml", "Machine learning"),
            ("mobile", "Mobile"),
        ],
    ),
    (
        "science",
        "Science",
        False,
        [
            ("chemistry", "Chemistry"),
            ("physics", "Physics"),
            ("biology", "Biology"),
            ("mathematics", "Mathematics"),
            ("statistics", "Statistics"),
        ],
    ),
    (
        "engineering",
        "Engineering",
        False,
        [
            ("civil", "Civil"),
            ("mechanical", "Mechanical"),
            ("electrical", "Electrical"),
            ("chemical", "Chemical"),
        ],
    ),
    (
        "language",
        "Language and translation",
        False,
        [
            ("translation_de", "German translation"),
            ("translation_es", "Spanish translation"),
            ("translation_fr", "French translation"),
            ("translation_ja", "Japanese translation"),
            ("copyediting", "Copyediting"),
        ],
    ),
    (
        "education",
        "Education",
        False,
        [
            ("k12", "K-12 teaching"),
            ("higher_ed", "Higher education"),
            ("assessment", "Assessment design"),
        ],
    ),
    (
        "safety",
        "Trust and safety",
        False,
        [
            ("content_moderation", "Content moderation"),
            ("child_safety", "Child safety"),
            ("misinformation", "Misinformation"),
            ("bio_risk", "Biological risk"),
        ],
    ),
]
