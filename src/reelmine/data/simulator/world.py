"""Fixed vocabularies of the simulated world: countries, cities, networks, devices, genres.

Values are small constant tables; effects on quality and taste are drawn from them per run.
"""

from __future__ import annotations

import numpy as np

# code, weight, UTC offset (hours), language, cities (name, lat, lon), ISPs
COUNTRIES: list[tuple[str, float, int, str, list[tuple[str, float, float]], list[str]]] = [
    (
        "US",
        0.30,
        -5,
        "en",
        [("New York", 40.71, -74.01), ("Chicago", 41.88, -87.63), ("Los Angeles", 34.05, -118.24)],
        ["I1", "I2", "I3"],
    ),
    ("GB", 0.09, 0, "en", [("London", 51.51, -0.13), ("Manchester", 53.48, -2.24)], ["I4", "I5"]),
    ("DE", 0.09, 1, "de", [("Berlin", 52.52, 13.40), ("Munich", 48.14, 11.58)], ["I6", "I5"]),
    ("FR", 0.07, 1, "fr", [("Paris", 48.86, 2.35), ("Lyon", 45.76, 4.84)], ["I7", "I5"]),
    ("ES", 0.05, 1, "es", [("Madrid", 40.42, -3.70), ("Barcelona", 41.39, 2.17)], ["I8", "I5"]),
    (
        "BR",
        0.12,
        -3,
        "pt",
        [("Sao Paulo", -23.55, -46.63), ("Rio de Janeiro", -22.91, -43.17)],
        ["I9", "I10"],
    ),
    (
        "MX",
        0.07,
        -6,
        "es",
        [("Mexico City", 19.43, -99.13), ("Guadalajara", 20.66, -103.35)],
        ["I10", "I11"],
    ),
    ("IN", 0.10, 5, "hi", [("Mumbai", 19.08, 72.88), ("Delhi", 28.61, 77.21)], ["I12", "I13"]),
    ("JP", 0.06, 9, "ja", [("Tokyo", 35.68, 139.69), ("Osaka", 34.69, 135.50)], ["I14", "I15"]),
    (
        "CA",
        0.05,
        -5,
        "en",
        [("Toronto", 43.65, -79.38), ("Vancouver", 49.28, -123.12)],
        ["I16", "I2"],
    ),
]
COUNTRY_CODES = [c[0] for c in COUNTRIES]
COUNTRY_WEIGHTS = np.array([c[1] for c in COUNTRIES]) / sum(c[1] for c in COUNTRIES)
COUNTRY_TZ = np.array([c[2] for c in COUNTRIES], dtype=np.int64)
COUNTRY_LANG = [c[3] for c in COUNTRIES]

# Flattened cities: index -> (country index, name, lat, lon)
CITY_COUNTRY = np.array([i for i, c in enumerate(COUNTRIES) for _ in c[4]], dtype=np.int64)
CITY_NAMES = [city[0] for c in COUNTRIES for city in c[4]]
CITY_LAT = np.array([city[1] for c in COUNTRIES for city in c[4]])
CITY_LON = np.array([city[2] for c in COUNTRIES for city in c[4]])

ISPS = sorted({isp for c in COUNTRIES for isp in c[5]}, key=lambda s: int(s[1:]))
MOBILE_ISP = "M1"  # mobile carriers share one pool label per country, suffixed by country
CDNS = ["C1", "C2", "C3", "C4"]
# Per-country CDN mix (rows follow COUNTRIES): large CDNs everywhere, regional ones in places.
CDN_WEIGHTS = np.array(
    [
        [0.45, 0.35, 0.20, 0.00],
        [0.40, 0.40, 0.00, 0.20],
        [0.40, 0.40, 0.00, 0.20],
        [0.40, 0.40, 0.00, 0.20],
        [0.40, 0.40, 0.00, 0.20],
        [0.50, 0.30, 0.20, 0.00],
        [0.50, 0.30, 0.20, 0.00],
        [0.50, 0.50, 0.00, 0.00],
        [0.40, 0.40, 0.00, 0.20],
        [0.45, 0.35, 0.20, 0.00],
    ]
)

DEVICE_TYPES = ["tv", "mobile", "tablet", "web", "console"]
DEVICE_WEIGHTS = np.array([0.38, 0.27, 0.12, 0.16, 0.07])
# OS per device type
DEVICE_OS: dict[str, list[str]] = {
    "tv": ["tizen", "webos", "androidtv", "roku"],
    "mobile": ["ios", "android"],
    "tablet": ["ios", "android"],
    "web": ["windows", "macos"],
    "console": ["playstation", "xbox"],
}
OS_LIST = sorted({o for v in DEVICE_OS.values() for o in v})
APP_VERSIONS = ["7.0", "7.1", "7.2", "8.0"]
APP_WEIGHTS = np.array([0.15, 0.35, 0.35, 0.15])
DEVICE_BITRATE = {
    "tv": 6500.0,
    "mobile": 2200.0,
    "tablet": 3200.0,
    "web": 4200.0,
    "console": 6000.0,
}
USER_AGENTS = {
    "tv": "ReelTV/{v} ({os})",
    "mobile": "ReelMobile/{v} ({os})",
    "tablet": "ReelTablet/{v} ({os})",
    "web": "Mozilla/5.0 ({os}) ReelWeb/{v}",
    "console": "ReelConsole/{v} ({os})",
}

# genre, global popularity weight, keywords for descriptions
GENRES: list[tuple[str, float, list[str]]] = [
    ("Drama", 1.00, ["family", "secret", "loss", "ambition", "redemption", "small town"]),
    ("Comedy", 0.95, ["wedding", "roommates", "misadventure", "road trip", "office", "prank"]),
    ("Action", 0.85, ["heist", "chase", "mercenary", "explosion", "rescue", "revenge"]),
    ("Thriller", 0.75, ["conspiracy", "stalker", "kidnapping", "double agent", "alibi"]),
    ("Romance", 0.60, ["first love", "letters", "summer", "reunion", "wedding", "paris"]),
    ("Crime", 0.65, ["detective", "cartel", "murder", "heist", "corruption", "informant"]),
    ("Horror", 0.45, ["haunted", "curse", "possession", "cabin", "ritual", "slasher"]),
    ("Sci-Fi", 0.55, ["spaceship", "alien", "time travel", "android", "colony", "dystopia"]),
    ("Fantasy", 0.45, ["dragon", "kingdom", "quest", "wizard", "prophecy", "sword"]),
    ("Animation", 0.50, ["talking animals", "toys", "magic", "friendship", "adventure"]),
    ("Documentary", 0.35, ["nature", "true story", "music", "sports", "history", "science"]),
    ("Family", 0.45, ["holiday", "dog", "siblings", "school", "camp", "grandparents"]),
    ("Mystery", 0.40, ["detective", "manor", "disappearance", "clue", "island", "whodunit"]),
    ("Adventure", 0.55, ["treasure", "jungle", "expedition", "pirates", "mountain", "map"]),
    ("Anime", 0.30, ["mecha", "school", "spirit", "tournament", "samurai", "isekai"]),
    ("Reality", 0.30, ["competition", "cooking", "dating", "makeover", "island", "talent"]),
]
GENRE_NAMES = [g[0] for g in GENRES]
GENRE_POP = np.array([g[1] for g in GENRES])
LANGUAGES = ["en", "es", "fr", "de", "pt", "hi", "ja", "ko"]
LANGUAGE_WEIGHTS = np.array([0.55, 0.10, 0.06, 0.05, 0.06, 0.07, 0.06, 0.05])
MATURITY = ["G", "PG", "PG-13", "R", "TV-MA"]
ADJECTIVES = [
    "Silent",
    "Broken",
    "Golden",
    "Last",
    "Hidden",
    "Crimson",
    "Endless",
    "Lost",
    "Wild",
    "Electric",
    "Midnight",
    "Frozen",
    "Burning",
    "Secret",
    "Distant",
    "Hollow",
]
NOUNS = [
    "River",
    "Empire",
    "Garden",
    "Signal",
    "Harbor",
    "Horizon",
    "Mirror",
    "Storm",
    "Orchard",
    "Circuit",
    "Legacy",
    "Frontier",
    "Lantern",
    "Echo",
    "Voyage",
    "Kingdom",
]
