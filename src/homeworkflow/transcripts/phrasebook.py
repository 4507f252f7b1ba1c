"""Sentence templates for synthetic transcripts (see `synthetic.py`).

Each pool is a list of (template, weight). Slots: {act} (a between-session activity as a verb
phrase), {ing} / {Ing} (the same as a gerund), {noun} (short name of it), {when}, {past},
{feel}, {topic}, {person}. Negatives include hard cases on purpose: information about the same
activities, reflections, questions about the past or about earlier sessions that are not reviews,
and phrasings (`AMBIGUOUS_*`) that appear both in a positive pool (about a fifth of its weight)
and in the negative pool (about one therapist turn in fifty), as in real transcripts where the
same words are a recommendation in one session and small talk in another.
"""

ACTIVITIES = (  # (act, ing, noun)
    ("go for a walk", "going for walks", "walking"),
    ("call your sister", "calling your sister", "calls with your sister"),
    ("write in a journal", "writing in your journal", "journal"),
    ("practise the breathing exercise", "practising the breathing", "breathing exercise"),
    ("cook yourself a proper meal", "cooking", "cooking"),
    ("go to the gym", "going to the gym", "gym"),
    ("cut down to two drinks", "cutting down on drinking", "drinking limit"),
    ("keep a sleep diary", "keeping the sleep diary", "sleep diary"),
    ("use the relaxation app", "using the relaxation app", "relaxation app"),
    ("spend ten minutes outside", "spending time outside", "time outside"),
    ("plan one pleasant activity", "planning pleasant activities", "activity plan"),
    ("reach out to a friend", "reaching out to friends", "reaching out"),
    ("fill in a thought record", "doing thought records", "thought record"),
    ("go to bed at the same time", "keeping a regular bedtime", "bedtime routine"),
    ("take your medication every morning", "taking your medication", "medication routine"),
    ("go back to painting", "painting", "painting"),
    ("attend the support group", "going to the support group", "support group"),
    ("write down what worries you", "writing down your worries", "worry list"),
    ("stretch before bed", "stretching", "stretching"),
    ("put your phone away after nine", "keeping the phone away at night", "phone rule"),
    ("play the guitar again", "playing the guitar", "guitar"),
    ("look at the job listings", "looking at job listings", "job search"),
)
WHEN = (
    "this week",
    "before we meet again",
    "every morning",
    "over the weekend",
    "a couple of times this week",
    "tomorrow",
    "each evening",
    "after work",
    "twice before our next session",
    "on the days you feel low",
)
PAST = (
    "this past week",
    "since our last session",
    "over the weekend",
    "since we last met",
    "last week",
    "these past two weeks",
)
FEEL = ("anxious", "down", "overwhelmed", "tired", "irritable", "lonely", "stuck", "hopeless", "restless", "on edge")
TOPIC = (
    "your sleep",
    "work",
    "your mood",
    "the arguments at home",
    "money",
    "your energy",
    "the drinking",
    "your relationship",
    "the panic attacks",
    "your motivation",
)
PERSON = ("your sister", "your partner", "your mum", "your boss", "your son", "your friend", "your neighbour")

# Phrasings that are a recommendation (or a review) in some sessions and not in others.
AMBIGUOUS_AR = (
    "{Ing} could be good for you.",
    "Some people find {ing} helps with {topic}.",
    "{Ing} might be worth thinking about.",
    "Have you thought about {ing}?",
)
AMBIGUOUS_REVIEW = (
    "How has the {noun} been?",
    "And the {noun}, how is that?",
    "How are things going with {ing}?",
    "Tell me more about the {noun}.",
    "What was that like for you?",
    "And how did you feel afterwards?",
    "What do you think made the difference?",
)

THERAPIST_AR = [
    ("I'd like you to {act} {when}.", 2),
    ("For homework, could you {act} {when}?", 2),
    ("Between now and our next session, try to {act}.", 2),
    ("Let's make that your goal: {act} {when}.", 2),
    ("So the plan is that you {act} {when} and notice how you feel afterwards.", 2),
    ("I want you to {act} {when}, even if it feels small.", 1),
    ("My suggestion would be to {act} {when}.", 1),
    ("Can you commit to {ing} {when}?", 1),
    ("Maybe try {ing} again {when}.", 2),
    ("What if you tried to {act} {when}?", 2),
    ("It might be worth it to {act} {when}.", 1),
    ("You could {act} {when}, if you feel up to it.", 2),
    ("How about {ing} {when}?", 2),
    ("Maybe something you could do is go back to {ing}, that used to be good for you.", 2),
    ("Next time you feel {feel}, you might {act}.", 1),
    ("Why don't you {act} {when} and see what happens?", 1),
    ("I wonder if you could {act} {when}.", 1),
    ("One small step could be to {act} {when}.", 1),
] + [(t, 2) for t in AMBIGUOUS_AR]

THERAPIST_REVIEW = [
    ("How did the {noun} go since we last met?", 2),
    ("Last time you said you'd {act}. How has that been?", 2),
    ("Were you able to {act} {past}?", 2),
    ("Did you get a chance to {act} {past}?", 2),
    ("Let's look at the plan from last session, to {act}. How did it go?", 1),
    ("What got in the way of {ing} {past}?", 2),
    ("Tell me about the {noun} we agreed on last time.", 1),
    ("You were going to {act}. Did that happen?", 1),
    ("How many times did you manage to {act} {past}?", 1),
    ("So the {noun} was harder than you expected.", 2),
    ("It sounds like {ing} helped on the days you did it.", 2),
    ("Let's check in on your homework from last week.", 1),
    ("When you were {ing}, what did you notice?", 1),
    ("I remember we talked about {ing}; how is that going?", 1),
    ("What made it possible to keep {ing} on those days?", 1),
] + [(t, 2) for t in AMBIGUOUS_REVIEW]

THERAPIST_OTHER = [
    # information about the same activities (not a recommendation)
    ("{Ing} can help a lot of people with {topic}.", 2),
    ("Research shows that {ing} improves mood for many people.", 1),
    ("Many people feel {feel} when {topic} is not going well.", 1),
    ("That's a common reaction when people start {ing}.", 1),
    ("Sleep and mood are closely linked.", 1),
    ("Anxiety often peaks and then passes within twenty minutes.", 1),
    # reflections and summaries
    ("It sounds like {topic} has been really hard lately.", 3),
    ("So you've been feeling {feel} most days.", 3),
    ("You're worried about {topic}.", 2),
    ("So {ing} is something you really enjoy.", 2),
    ("You felt {feel} when {person} said that.", 2),
    ("Part of you wants to change, and part of you isn't sure.", 1),
    ("So today we talked about {topic} and about {ing}.", 1),
    # questions about the past or earlier sessions that are not reviews
    ("When was the last time you felt {feel}?", 2),
    ("Last time you mentioned {person}; how are they doing?", 2),
    ("How was your week?", 2),
    ("Have you ever tried {ing} before?", 2),
    ("What was {topic} like when you were younger?", 1),
    ("Since we last met, has anything important happened?", 1),
    ("How did you sleep last night?", 1),
    ("What did you do over the weekend?", 1),
    # other questions, structure, affirmations
    ("What would you like to focus on today?", 2),
    ("What matters most to you about {topic}?", 2),
    ("How would your life look if {topic} improved?", 1),
    ("On a scale from zero to ten, how confident do you feel?", 1),
    ("We have about ten minutes left.", 1),
    ("Next time we can talk more about {topic}.", 1),
    ("That took real courage.", 1),
    ("You've been working really hard.", 1),
    # minimal encouragers
    ("Mm-hmm.", 6),
    ("Okay.", 5),
    ("Right.", 3),
    ("I see.", 3),
    ("Yeah.", 3),
    ("Go on.", 2),
] + [(t, 0.5) for t in AMBIGUOUS_AR + AMBIGUOUS_REVIEW]

CLIENT_AFTER_AR = [
    ("Okay, I can try that.", 3),
    ("I'm not sure I'll have time, but I'll try.", 2),
    ("That sounds doable.", 2),
    ("Maybe. I'll see how I feel.", 2),
    ("I used to enjoy {ing}, actually.", 1),
    ("Okay.", 2),
    ("I don't know if it will help, but fine.", 1),
]
# Client reports that could be about homework or about anything else.
AMBIGUOUS_REPORT = (
    "It went better than I expected.",
    "Only once, on Sunday.",
    "I tried, but work got busy.",
    "Not really, I was too {feel}.",
)
CLIENT_AFTER_REVIEW = [
    ("I did it a few times.", 2),
    ("Honestly, I forgot.", 2),
    ("I did, and I felt less {feel} afterwards.", 2),
    ("The first days were fine, then I stopped.", 1),
    ("I kept up the {noun} most days.", 1),
] + [(t, 2) for t in AMBIGUOUS_REPORT]
CLIENT_OTHER = [
    ("Yeah.", 4),
    ("Mm-hmm.", 3),
    ("I don't know.", 3),
    ("It's been a tough week.", 2),
    ("I feel {feel} most of the time.", 2),
    ("{Person} keeps telling me to relax.", 1),
    ("Work has been really stressful.", 2),
    ("I guess so.", 2),
    ("Sometimes, yes.", 2),
    ("I'm not sure what to say.", 1),
    ("It's mostly {topic}.", 2),
    ("Last week was a bit better.", 1),
    ("I tried {ing} years ago.", 1),
    ("I just can't stop thinking about {topic}.", 1),
] + [(t, 0.5) for t in AMBIGUOUS_REPORT]
