"""Phrases that ask for data no source has (age, location, costs, sellers, referrers…).

A question naming one gets an honest "can't answer" without a model call: a figure for the
rest of the question ("how many users", leaving out "over 30") would answer another question.
`resolve_question` checks these first; `unexplained` never "fixes" such a word into another.
"""

from __future__ import annotations

UNSUPPORTED = {
    r"\b(age|ages|aged|how old|older|younger)\b": "age",
    r"\b(gender|female|male|women|men|woman|man)\b": "gender",
    r"\b(income|salary|wealth)\b": "income",
    r"\b(country|countries|city|cities|region|location|state|zip|postcode|where do)\b":
        "location",
    r"\b(ethnicity|race|religion|married|marital)\b": "demographic attributes",
    r"\b(weather|temperature|rain)\b": "weather",
    r"\b(profit|margin|costs|cogs|cost of goods|unit cost|cost price)\b|(?<!does )(?<!do )"
    r"(?<!would )(?<!did )\bcost\b(?!s)(?! (on average|per|each))": "costs or profit",
    r"\b(return rate|returns|refunds?|returned)\b": "returns or refunds",
    r"\b(inventory|stock levels?|in stock|out of stock|stocks?|warehouse|units left)\b":
        "inventory",
    r"\b(search(es|ed|ing)?|search terms?|queries|keywords?)\b": "search queries",
    r"\b(e-?mails?|newsletters?|subscribers?|open rates?|click.?through|ctr)\b":
        "e-mails, newsletters or their clicks",
    r"\b(ads|ad spend|advertis\w*|campaigns?|marketing spend|clicks on ads|acquisition cost|cac)\b":
        "marketing spend",
    r"\b(ship(ping|ped|ments?)?|deliver\w*|arriv\w*|dispatch\w*)\b": "shipping or delivery",
    r"(?<!best )(?<!best-)(?<!top )\bsellers?\b|\b(merchants?|vendors?|storefronts?)\b"
    r"|(?<!all )(?<!both )(?<!every )(?<!across )(?<!the )\b(shops|stores)\b":
        "sellers, shops or merchants",  # a "best seller" is a product
    r"\b(vip|membership|memberships|loyalty|subscriptions?|premium (users|customers|members))\b":
        "memberships, loyalty tiers or subscriptions",
    r"\b(traffic sources?|referr\w*|utm\w*|(acquisition|marketing) channels?)\b|\b(came|come|comes|"
    r"coming) from (google|bing|facebook|instagram|tiktok|twitter|youtube|ads?|search|social)\b":
        "traffic sources or referrers",
    r"\bnext (week|month|quarter|year)\b|\bforecast\w*\b|\bin the future\b": "future figures",
}
"""Phrases that ask for data no source has, and what that data is called."""
