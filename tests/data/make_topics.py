#!/usr/bin/env python3
"""Writes the labelled topic set of the classifier tests (topics_train.tsv,
topics_test.tsv): short English texts in five topics, from templates and
topic word lists, with a fixed seed and a fixed 75/25 split. Run once; the
files are committed and the tests read them, never this script."""
import random

TOPICS = {
    "sports": {
        "subj": ["the striker", "our goalkeeper", "the home team", "the coach", "the sprinter",
                 "the tennis champion", "the cycling team", "the rookie guard", "the referee",
                 "the marathon runner"],
        "verb": ["scored twice in", "was sent off during", "trained hard before", "celebrated after",
                 "lost narrowly in", "dominated", "withdrew from", "set a record at"],
        "obj": ["the cup final", "the league match", "the semi-final", "the derby", "the relay race",
                "the grand slam", "the playoffs", "the world championship", "extra time",
                "the penalty shootout"],
    },
    "cooking": {
        "subj": ["the chef", "my grandmother", "the baker", "our recipe", "the pastry cook",
                 "the home cook", "the sous chef", "the food blogger"],
        "verb": ["simmered", "roasted", "whisked", "seasoned", "kneaded", "caramelised",
                 "chopped", "baked"],
        "obj": ["the onions with garlic", "a loaf of sourdough", "the tomato sauce", "fresh basil",
                "the chicken thighs", "a lemon tart", "the risotto", "butter and flour",
                "the vegetable stew", "chocolate cookies"],
    },
    "weather": {
        "subj": ["a cold front", "the storm", "heavy rain", "the forecast", "a heatwave",
                 "thick fog", "the hurricane", "strong winds", "light snow", "the thunderstorm"],
        "verb": ["is expected over", "swept across", "will bring showers to", "flooded",
                 "brought frost to", "is moving toward", "cleared from", "battered"],
        "obj": ["the coast", "the northern hills", "the valley tonight", "the city this weekend",
                "the mountains", "low-lying farmland", "the east by morning", "the islands",
                "the region", "the airport"],
    },
    "technology": {
        "subj": ["the new laptop", "the software update", "the startup", "our server cluster",
                 "the smartphone", "the open source project", "the chip maker", "the database",
                 "the web browser", "the cloud provider"],
        "verb": ["ships with", "patched", "crashed because of", "added support for",
                 "was benchmarked against", "migrated to", "leaked", "compiles"],
        "obj": ["a faster processor", "a security vulnerability", "the operating system kernel",
                "machine learning models", "encrypted messaging", "the new graphics card",
                "a memory leak", "the latest compiler", "wireless charging", "the API"],
    },
    "finance": {
        "subj": ["the central bank", "stock markets", "the investor", "the bond yield",
                 "the hedge fund", "inflation", "the company's shares", "the pension fund",
                 "the currency", "quarterly earnings"],
        "verb": ["raised", "fell sharply after", "rallied on", "beat expectations for",
                 "cut", "surged past", "weighed on", "reported"],
        "obj": ["interest rates", "the dividend", "the trading session", "the bond market",
                "record profits", "the exchange rate", "a merger announcement", "investor confidence",
                "the fiscal year", "mortgage lending"],
    },
}

def main():
    rng = random.Random(20261129)
    rows = []
    for topic, w in TOPICS.items():
        seen = set()
        while len(seen) < 100:
            seen.add(f"{rng.choice(w['subj'])} {rng.choice(w['verb'])} {rng.choice(w['obj'])}")
        rows += [(t, topic) for t in sorted(seen)]
    rng.shuffle(rows)
    cut = len(rows) * 3 // 4
    for name, part in (("topics_train.tsv", rows[:cut]), ("topics_test.tsv", rows[cut:])):
        with open(name, "w") as f:
            for text, topic in part:
                f.write(f"{topic}\t{text}\n")

if __name__ == "__main__":
    main()
