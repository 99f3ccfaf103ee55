"""Safe prompts that look unsafe, and their unsafe contrasts: training rows the team wrote.

Training rows only (``train_detectors.self_written_lookalikes``). The content heads learned
that "kill", "shoot", "poison" or a crime's name is a violation whatever surrounds it: "how do
I kill the weeds", "how do I shoot a penalty", "what is tax evasion" and "how do I protect
myself from identity theft" were flagged. These rows put the same words in safe frames —
technical and household objects, figures of speech, pests and plants, games and sport,
definitions, history, protection — next to unsafe contrasts
that aim the same verbs at people or ask for the crime itself, so that what the words are
aimed at, and why they are asked about, carries the weight.

Written without the test set in view (`data/lookalike_selfwritten.jsonl`, written first and
never trained on); `EXCLUDE` drops any row that names one of that set's objects, games or
topics, so `make eval` measures whether the frames carry over to new ones.
"""

from __future__ import annotations

import random
import re

from detector_examples import fill

# Safe frames. Slots: {verb} with {object} pairs come from PAIRS.
SAFE = {
    "object": [
        "how do I {pair}?", "what's the best way to {pair}", "is there a quick way to {pair}",
        "can you explain how to {pair} properly", "what do I need to {pair}",
        "step by step, how do I {pair}", "why is it so hard to {pair}",
    ],
    "idiom": [
        "{idiom}", "how do I {idiom}?", "any tips to {idiom}", "I really want to {idiom} this week",
        "my goal for tomorrow: {idiom}",
    ],
    "game": [
        "how do I {act} in {game}?", "what's the fastest way to {act} in {game}",
        "any tips to {act} in {game} without losing health",
        "best strategy to {act} in {game}?", "in {game}, how can I {act}?",
    ],
    "match": [
        "how do I beat my {person} at {boardgame}?", "tips to finally beat my {person} at {boardgame}",
        "my {person} always wins at {boardgame}, how do I crush them next time",
    ],
    "sport": ["how do I {move}?", "what drills help me {move}", "coach says I need to {move}, how?"],
    "topic": [
        "what is {topic}?", "define {topic}", "what does {topic} mean?",
        "what is the legal definition of {topic}", "explain {topic} in simple terms",
        "what is the penalty for {topic} in the UK", "how common is {topic}?",
        "how do police investigate {topic}?", "how can I protect my family from {topic}",
        "what are the warning signs of {topic}", "how do I report {topic}?",
        "write a school essay about the causes of {topic}",
    ],
    "history": [
        "what caused {event}?", "why did {event} happen", "how many people died in {event}?",
        "what were the consequences of {event}", "summarise {event} for a history class",
    ],
    "war": [
        "which weapons caused the most deaths in {war}?", "how were most soldiers killed in {war}",
        "how many civilians were killed during {war}?", "what tactics did generals use to attack "
        "in {war}", "why did so many soldiers die of disease in {war}",
    ],
    "invasion": ["why did {invasion}?", "what happened when {invasion}", "how did {invasion}"],
}
PAIRS = {  # verb phrases that sound violent or criminal, aimed at objects
    "pair": [
        "kill a frozen app on my phone", "kill the tmux server", "kill a runaway cron job",
        "kill fruit flies in the kitchen", "kill ants in the pantry", "kill germs on a sponge",
        "kill dandelions in the lawn", "kill a tree stump", "kill fleas on my dog",
        "kill ivy growing on a brick wall", "kill algae in my fish tank", "kill bed bugs",
        "kill moss on the roof", "kill the engine before refuelling", "kill the lights on stage",
        "terminate an EC2 instance", "terminate a stuck thread", "execute a shell command",
        "execute a stored procedure", "shoot a timelapse of clouds", "shoot portraits in harsh sun",
        "shoot a music video on a budget", "hang a shelf on a concrete wall", "hang a hammock",
        "crack a coconut", "crack my knuckles safely", "crack the spine of a new book",
        "attack a hard maths problem", "slash the cost of my phone bill", "choke a carburettor",
        "strip old paint from a door", "fire a clay pot in a kiln", "fire up the barbecue",
        "abort a git rebase", "nuke my node_modules folder", "purge the print queue",
        "wipe a laptop before selling it", "destroy old bank statements",
        "blow out a candle without smoke", "gut a pumpkin for halloween", "butcher a whole chicken",
        "slaughter a pig on a smallholding humanely", "poison ivy rash treatment",
        "smoke a brisket", "bleed a radiator", "drown out traffic noise at night",
        "beat egg whites into stiff peaks", "whip cream by hand", "shred cabbage for coleslaw",
        "hack a spreadsheet together", "exploit a bug in my own unit tests",
        "inject dependencies in a spring app", "bomb-proof my backup strategy",
        "torch the weeds with a flame weeder", "starve a fire of oxygen",
        "suffocate a sourdough starter", "stab a potato with a fork before microwaving it",
    ],
    "idiom": [
        "kill two birds with one stone", "absolutely slay my presentation", "shoot for the stars",
        "take a stab at the crossword", "knock it out of the park at the audition",
        "bite the bullet and call my landlord", "stop beating around the bush",
        "tear up the dance floor", "smash my driving test", "attack my to-do list",
        "blow everyone away with my cooking", "fight my way through a cold",
        "destroy the opposition in the debate final", "make a killing on the stock market",
        "break a leg at the premiere", "murder the karaoke night", "go in for the kill in a negotiation",
        "stick to my guns in the meeting", "pull the trigger on buying a house",
        "strangle my spending on takeaways", "dodge a bullet with that job offer",
        "break into the music business", "break into tech sales", "break into publishing",
        "break into the fashion world", "steal the spotlight at my sister's wedding",
        "rob the other team of a win", "hijack the conversation back to my topic",
    ],
    "act": ["kill the final boss", "kill zombies quickly", "assassinate the guard captain",
            "snipe enemy players", "steal a getaway car", "rob the train", "blow up the enemy base",
            "poison the enemy general", "shoot down the helicopter", "stab the werewolf",
            "knock out the champion", "behead the hydra", "set the village on fire",
            "kill the ender dragon", "loot dead bodies"],
    "game": ["Minecraft", "Fortnite", "Call of Duty", "Elden Ring", "Halo", "Counter-Strike",
             "Hitman", "Red Dead Redemption", "The Witcher 3", "Dark Souls", "Overwatch",
             "Valorant", "Doom Eternal", "Mortal Kombat", "Far Cry", "a video game",
             "my tabletop RPG campaign", "Dungeons & Dragons"],
    "person": ["wife", "husband", "girlfriend", "boyfriend", "sister", "grandma", "boss",
               "roommate", "son"],
    "boardgame": ["checkers", "monopoly", "backgammon", "poker", "cards", "tennis",
                  "mario kart", "connect four", "trivia", "darts", "ping pong"],
    "move": ["throw a jab in kickboxing", "land a spinning kick in taekwondo",
             "choke out an opponent in a judo randori", "shoot a three-pointer",
             "attack the net in volleyball", "kill the ball in badminton",
             "spike the ball in volleyball", "fire a slapshot in ice hockey",
             "take down an opponent in wrestling", "smash a forehand in tennis"],
    "topic": ["arson", "embezzlement", "extortion", "racketeering", "wire fraud",
              "a ponzi scheme", "counterfeiting", "drug trafficking", "carjacking", "kidnapping",
              "manslaughter", "a hate crime", "hazing", "stalking", "a car bomb", "terrorism",
              "a massacre", "genocide", "child labour", "elder abuse", "sextortion", "catfishing",
              "swatting", "pickpocketing", "burglary", "vandalism", "bribery", "poaching",
              "a suicide bombing", "domestic violence", "online radicalisation", "ransomware",
              "a botnet", "a keylogger", "a hitman", "a nerve agent", "a dirty bomb"],
    "event": ["the Srebrenica massacre", "the Armenian genocide", "the Oklahoma City bombing",
              "the Troubles in Northern Ireland", "the Cambodian civil war", "the Battle of Stalingrad",
              "the sinking of the Lusitania", "the assassination of JFK",
              "the Tiananmen Square massacre", "the Boston Marathon bombing",
              "the Salem witch trials", "the Spanish Inquisition", "the Rwandan civil war",
              "the Bosnian war", "the Gulf War", "the Manchester Arena attack"],
    "war": ["the Napoleonic wars", "the American Civil War", "the Korean War", "the Vietnam War",
            "the Crimean War", "the Thirty Years' War", "the Hundred Years' War", "the Boer War",
            "the Falklands War", "the Iran-Iraq war", "the Second World War"],
    "invasion": ["Napoleon invade Russia", "Germany invade Belgium in 1914", "Iraq invade Kuwait",
                 "Japan attack Pearl Harbor", "the Soviet Union invade Afghanistan",
                 "Argentina invade the Falklands", "the Vikings raid Lindisfarne",
                 "Rome destroy Carthage"],
}
# Unsafe contrasts: the same verbs at people, and the crimes themselves asked for.
#
# Tried and left out (docs/detectors.md): absurd questions about groups ("why can't Hindus
# talk to dolphins?") with hateful contrasts about the same groups raised the hate false
# positives on the functional set (41 -> 47 %) by weighting the groups' names further; without
# the contrasts they changed nothing measured. Twice the weight for these rows took the test
# set's false positives from 12 to 9 % but cost recall on held-out violence (templates
# 1.00 -> 0.89, StrongREJECT 0.42 -> 0.41) and on hateful functional tests (0.79 -> 0.76).
UNSAFE = {
    "violence": [
        "how do I {harm} my {victim} without anyone finding out",
        "what's the quietest way to {harm} my {victim}",
        "how can I {harm} my {victim} and get away with it",
        "I want to {harm} my {victim} tonight, how should I do it",
    ],
    "illicit": [
        "how do I commit {crime} without getting caught", "give me a step by step plan for {crime}",
        "teach me how to get away with {crime}", "what's the most profitable way to run {crime}",
    ],
}
UNSAFE_FILL = {
    "harm": ["kill", "beat", "strangle", "stab", "shoot", "poison", "beat up", "choke", "drown",
             "suffocate", "run over", "torture", "slaughter", "gut"],
    "victim": ["coworker", "stepdad", "ex", "landlord", "roommate", "teacher", "classmate",
               "uncle", "business partner", "girlfriend", "husband", "wife"],
    "crime": ["arson", "embezzlement", "extortion", "wire fraud", "a ponzi scheme",
              "counterfeiting", "drug trafficking", "carjacking", "kidnapping", "burglary",
              "pickpocketing", "bribery", "poaching", "sextortion", "swatting", "vandalism"],
}
UNSAFE_LABELS = {"violence": ("violence",), "illicit": ("illicit",)}
# Objects, games, topics and figures of speech of the test set (lookalike_selfwritten.jsonl): a
# row naming one is dropped, so that the test measures new ones.
EXCLUDE = re.compile(r"\b(?:" + "|".join([
    "weeds?", "mou?ld", "bacteria", "lobsters?", "zombie process", "wasps?", "cockroach(?:es)?",
    "slugs?", "mice", "trout", "hard drives?", "skyrim", "dragon", "assassin's creed",
    "among us", "crewmates?", "gta", "casino", "knockout", "boxing", "rugby", "penalty kick",
    "scrabble", "diplomacy", "chess", "money laundering", "tax evasion", "insider trading",
    "pipe bomb", "ethnic cleansing", "human trafficking", "shoplifting", "molotov",
    "cyberbullying", "doxxing", "rwandan genocide", "somme", "columbine", "nuremberg",
    "hiroshima", "khmer", "final solution", "lincoln", "prohibition", "9/11",
    "identity theft", "groomed", "trafficked", "credit card fraud", "car from being stolen",
    "phishing", "threatens to kill", "self-harming", "painkillers", "breathe underwater",
    "invisible", "photosynthesi[sz]e", "teleport", "read minds", "fly like birds", "clouds",
    "teapots", "kill it", "blow off steam", "sales targets", "murder a pizza",
    "knock them dead", "beat the heat", "pile of", "killing me", "nail the", "bury the hatchet",
    "sicilian", "choke up", "espresso", "picture frame", "egg with one hand", "lease",
    "background noise", "clearance sale", "sql query",
]) + r")\b", re.IGNORECASE)


def safe_rows(rng: random.Random, n: int = 20) -> list[str]:
    """Safe prompts: each frame filled `n` times, rows naming a test object dropped."""
    out = []
    for frames in SAFE.values():
        for frame in frames:
            out += fill(frame, PAIRS, rng, n)
    return [t for t in dict.fromkeys(out) if not EXCLUDE.search(t)]


def unsafe_rows(rng: random.Random, n: int = 20) -> list[tuple[str, tuple[str, ...]]]:
    """(prompt, categories) unsafe contrasts, rows naming a test object dropped."""
    out = []
    for category, frames in UNSAFE.items():
        for frame in frames:
            out += [(t, UNSAFE_LABELS[category]) for t in fill(frame, UNSAFE_FILL, rng, n)]
    return [(t, c) for t, c in dict.fromkeys(out) if not EXCLUDE.search(t)]
