"""Tests for text normalization: exact spoken forms per category, idempotence, other languages, WER words."""

from __future__ import annotations

import pytest

from studio.text.normalize import normalize_text, words_for_wer

# The four sentences later checked by speech recognition of synthesized audio, with their exact spoken forms.
SPEECH_CHECKED = [
    (
        "The startup secured $5.2M in venture capital, a huge leap from their initial $450K seed round.",
        "The startup secured five point two million dollars in venture capital, a huge leap from their initial "
        "four hundred fifty thousand dollars seed round.",
    ),
    (
        "The train delay was announced at 4:45 PM on Wed, Apr 3, 2024 due to track maintenance.",
        "The train delay was announced at four forty-five p.m. on Wednesday, April third, twenty twenty-four "
        "due to track maintenance.",
    ),
    (
        "You can reach the hotel front desk at (212) 555-0142 ext. 402 anytime.",
        "You can reach the hotel front desk at two one two, five five five, zero one four two, "
        "extension four zero two, anytime.",
    ),
    (
        "Our drone battery lasts 2.3h when flying at 30kph with full camera payload.",
        "Our drone battery lasts two point three hours when flying at thirty kilometers per hour "
        "with full camera payload.",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SPEECH_CHECKED)
def test_speech_checked_sentences(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


CASES = {
    "integers": [
        ("I have 5 cats.", "I have five cats."),
        (
            "There were 1,234,567 people.",
            "There were one million two hundred thirty-four thousand five hundred sixty-seven people.",
        ),
        ("It has 105 pages.", "It has one hundred five pages."),
        ("Score: 0", "Score: zero"),
        ("A round 1000000 users.", "A round one million users."),
    ],
    "decimals and negatives": [
        ("Pi is 3.14.", "Pi is three point one four."),
        ("It grew 2.3 times.", "It grew two point three times."),
        ("A price of 2.30", "A price of two point three zero"),
        ("It fell to -4 today.", "It fell to minus four today."),
        ("Only .5 left", "Only point five left"),
        ("Version 3.10.2 is out.", "Version three dot ten dot two is out."),
    ],
    "leading zeros and ids": [
        ("Agent 007 reporting.", "Agent zero zero seven reporting."),
        ("Order 48213077 shipped.", "Order four eight two one three zero seven seven shipped."),
    ],
    "percentages": [
        ("Up 45% this year.", "Up forty-five percent this year."),
        ("A 2.5 % rise.", "A two point five percent rise."),
        ("Between 10-20% of them.", "Between ten to twenty percent of them."),
        ("A -3% change.", "A minus three percent change."),
    ],
    "ordinals": [
        ("She came 1st.", "She came first."),
        ("The 22nd floor.", "The twenty-second floor."),
        ("The 103rd run.", "The one hundred third run."),
        ("His 11th try.", "His eleventh try."),
    ],
    "years": [
        ("Born in 1999.", "Born in nineteen ninety-nine."),
        ("Since 2024 we ship.", "Since twenty twenty-four we ship."),
        ("By 2000 it ended.", "By two thousand it ended."),
        ("In 2005, it began.", "In two thousand five, it began."),
        ("Built circa 1905.", "Built circa nineteen oh five."),
        ("From 1990 to 2010 it grew.", "From nineteen ninety to twenty ten it grew."),
        ("The 1999-2004 era.", "The nineteen ninety-nine to two thousand four era."),
        ("Smith (2012) says so.", "Smith (twenty twelve) says so."),
        ("The 1990s and the '80s.", "The nineteen nineties and the eighties."),
        ("In her 20s she left.", "In her twenties she left."),
        ("Room 1999 is free.", "Room one thousand nine hundred ninety-nine is free."),
        ("In 2000 km it breaks.", "In two thousand kilometers it breaks."),
    ],
    "currency": [
        ("It costs $3.50.", "It costs three dollars and fifty cents."),
        ("Only $1 each.", "Only one dollar each."),
        ("Just $0.99 now.", "Just ninety-nine cents now."),
        ("Pay $1,000 today.", "Pay one thousand dollars today."),
        ("A $1.5 billion deal.", "A one point five billion dollars deal."),
        ("A $2bn fund.", "A two billion dollars fund."),
        ("A $1M prize.", "A one million dollars prize."),
        ("It is £2.01 here.", "It is two pounds and one penny here."),
        ("Only €1,250 left.", "Only one thousand two hundred fifty euros left."),
        ("It was ¥500.", "It was five hundred yen."),
        ("It was 5€.", "It was five euros."),
        ("A 50¢ stamp.", "A fifty cents stamp."),
        ("A $3.999 rate.", "A three point nine nine nine dollars rate."),
        ("Lost -$5 today.", "Lost minus five dollars today."),
    ],
    "times": [
        ("Wake at 7am.", "Wake at seven a.m."),
        ("Wake at 7 A.M. daily.", "Wake at seven a.m. daily."),
        ("Lunch at 12:00.", "Lunch at twelve o'clock."),
        ("Leave at 9:05.", "Leave at nine oh five."),
        ("Dinner at 6:30pm sharp.", "Dinner at six thirty p.m. sharp."),
        ("Noon is 12:00 PM.", "Noon is twelve p.m."),
        ("Depart 14:00.", "Depart fourteen hundred."),
        ("Lap 1:02:03 done.", "Lap one oh two and three seconds done."),
    ],
    "dates": [
        ("Wed, Apr 3, 2024", "Wednesday, April third, twenty twenty-four"),
        ("On 3 Apr 2024 we met.", "On the third of April, twenty twenty-four we met."),
        ("Due April 3rd.", "Due April third."),
        ("Due 2024-04-03.", "Due April third, twenty twenty-four."),
        ("Due 4/3/2024.", "Due April third, twenty twenty-four."),
        ("Since Sept. 21 it rained.", "Since September twenty-first it rained."),
        ("Back in May 2024.", "Back in May twenty twenty-four."),
        ("On the 1st of May.", "On the first of May."),
        ("Sat, 5 Oct 2024", "Saturday, the fifth of October, twenty twenty-four"),
        ("The Sun rose.", "The Sun rose."),
        ("See you in Jan. Bye.", "See you in January. Bye."),
    ],
    "phones": [
        ("Call (212) 555-0142 now.", "Call two one two, five five five, zero one four two, now."),
        ("Call +1 212-555-0142.", "Call plus one, two one two, five five five, zero one four two."),
        ("Dial 555-0142.", "Dial five five five, zero one four two."),
        ("Try 212.555.0142 x12.", "Try two one two, five five five, zero one four two, extension one two."),
    ],
    "units": [
        ("It takes 2.3h.", "It takes two point three hours."),
        ("Drive 30kph.", "Drive thirty kilometers per hour."),
        ("Run 1 km.", "Run one kilometer."),
        ("Run 5 km/h.", "Run five kilometers per hour."),
        ("It is 12 mph.", "It is twelve miles per hour."),
        ("Weigh 3 kg, 250 g and 40 mg.", "Weigh three kilograms, two hundred fifty grams and forty milligrams."),
        ("A 2 lb bag.", "A two pounds bag."),
        ("It is 21°C or 70°F.", "It is twenty-one degrees Celsius or seventy degrees Fahrenheit."),
        ("It is 1°C.", "It is one degree Celsius."),
        (
            "Wait 5 min, 30 s, 1 sec, 250 ms.",
            "Wait five minutes, thirty seconds, one second, two hundred fifty milliseconds.",
        ),
        ("Got 1 hr and 2 hrs.", "Got one hour and two hours."),
        (
            "Size 16 GB, 512 MB, 2 TB, 64 KB.",
            "Size sixteen gigabytes, five hundred twelve megabytes, two terabytes, sixty-four kilobytes.",
        ),
        ("A 3.5GHz chip at 100 MHz.", "A three point five gigahertz chip at one hundred megahertz."),
        ("A 60W bulb, 5 kW, 230 V.", "A sixty watts bulb, five kilowatts, two hundred thirty volts."),
        ("A 5000mAh cell.", "A five thousand milliamp hours cell."),
        (
            "It is 10 m long, 5 cm wide, 2 mm thick.",
            "It is ten meters long, five centimeters wide, two millimeters thick.",
        ),
        ("The men ran.", "The men ran."),
        ("Go 5–10 km.", "Go five to ten kilometers."),
    ],
    "abbreviations": [
        ("Dr. Smith is in.", "Doctor Smith is in."),
        ("Ask Dr. Lee.", "Ask Doctor Lee."),
        ("Mr. and Mrs. Jones met Ms. Lee.", "Mister and Missus Jones met Miz Lee."),
        ("Prof. Xu spoke.", "Professor Xu spoke."),
        ("St. Louis is big.", "Saint Louis is big."),
        ("I live on Main St. The house is red.", "I live on Main Street. The house is red."),
        ("It is on 5th St. near here.", "It is on fifth Street near here."),
        ("Go down Mulholland Dr. today.", "Go down Mulholland Drive today."),
        ("John Smith Jr. arrived.", "John Smith Junior arrived."),
        ("Tom vs. Jerry", "Tom versus Jerry"),
        ("Apples, pears, etc.", "Apples, pears, et cetera."),
        ("Fruit, e.g. apples.", "Fruit, for example, apples."),
        ("Red, i.e., ripe.", "Red, that is, ripe."),
        ("It is approx. 5 km.", "It is approximately five kilometers."),
        ("Ticket No. 5 won.", "Ticket number five won."),
        ("No. 5 won.", "Number five won."),
        ("We're #1!", "We're number one!"),
        ("Say no. Then go.", "Say no. Then go."),
    ],
    "acronyms": [
        ("The FBI called.", "The F.B.I. called."),
        ("Two CEOs met.", "Two C.E.O.'s met."),
        ("The FBI's files.", "The F.B.I.'s files."),
        ("She works at NASA and NATO.", "She works at NASA and NATO."),
        ("He joined the FBI.", "He joined the F.B.I."),
        ("I did NOT say that.", "I did not say that."),
        ("WORLD WAR II began.", "WORLD WAR TWO began."),  # a Roman numeral is no acronym: said as a number
        ("Henry VIII ruled.", "Henry the eighth ruled."),
        ("The AI model.", "The A.I. model."),
        ("An MP3 file.", "An M.P. three file."),
    ],
    "symbols and quotes": [
        ("It’s “fine”.", 'It\'s "fine".'),
        ("R&D and Tom & Jerry.", "R and D and Tom and Jerry."),
        ("2 + 2 = 4", "two plus two equals four"),
        ("Ages 18+ only.", "Ages eighteen plus only."),
        ("It is 2x faster.", "It is two times faster."),
        ("Use x2 speed.", "Use times two speed."),
        ("A 1920x1080 screen.", "A one thousand nine hundred twenty by one thousand eighty screen."),
        ("Pages 10-20.", "Pages ten to twenty."),
        ("COVID-19 hit.", "COVID-nineteen hit."),
    ],
    "fractions": [
        ("Add 1/2 cup.", "Add one half cup."),
        ("Add 3/4 cup.", "Add three quarters cup."),
        ("Add 2/3 cup.", "Add two thirds cup."),
        ("Add 5/8 inch.", "Add five eighths inch."),
        ("Wait 2 1/2 hours.", "Wait two and a half hours."),
        ("Add 1½ cups.", "Add one and a half cups."),
        ("Open 24/7.", "Open twenty-four seven."),
        ("A 50/50 chance.", "A fifty-fifty chance."),
    ],
    "roman numerals": [
        ("Chapter III. A Caucus-Race", "Chapter three. A Caucus-Race"),
        ("CHAPTER X. The Lobster Quadrille", "CHAPTER TEN. The Lobster Quadrille"),
        ("PART II. The Return", "PART TWO. The Return"),  # not "P.A.R.T. two"
        ("Chapter X", "Chapter ten"),
        ("chapter iv", "chapter four"),
        ("Part I", "Part one"),
        ("Book IV and Vol. II", "Book four and Volume two"),
        ("Act I, Scene II.", "Act one, Scene two."),
        ("After World War II ended.", "After World War two ended."),
        ("II.\n\nIt was night.", "Two.\n\nIt was night."),
        ("Louis XIV was king.", "Louis the fourteenth was king."),
        ("Henry VIII's wives", "Henry the eighth's wives"),
        ("Pope John Paul II died.", "Pope John Paul the second died."),
    ],
    "roman numerals left alone": [
        ("I went home.", "I went home."),
        ("the letter I wrote", "the letter I wrote"),
        ("See Appendix C.", "See Appendix C."),
        ("Malcolm X spoke.", "Malcolm X spoke."),
        ("Chapter Xmas", "Chapter Xmas"),
        ("C.\nA list", "C.\nA list"),
        ("Chapter IIII", "Chapter I.I.I.I."),  # not a numeral: spelled like any capitals
    ],
    "doctor and saint after a full stop": [
        ("I saw Alice. Dr. Smith came.", "I saw Alice. Doctor Smith came."),
        ("He met Jones! St. Paul spoke.", "He met Jones! Saint Paul spoke."),
        ("At 221 Baker St. Dr. Watson lives.", "At two hundred twenty-one Baker Street. Doctor Watson lives."),
        ("She lives on Elm Dr. in town.", "She lives on Elm Drive in town."),
        ("To England, St. Petersburgh.", "To England, Saint Petersburgh."),
    ],
    "prosody": [
        ("Really? Yes! Fine, then.", "Really? Yes! Fine, then."),
        ("Wait... what?", "Wait... what?"),
        ("First line.\n\nSecond line.", "First line.\n\nSecond line."),
    ],
}

ALL_CASES = [(category, text, expected) for category, pairs in CASES.items() for text, expected in pairs]


@pytest.mark.parametrize(("category", "text", "expected"), ALL_CASES)
def test_english_cases(category: str, text: str, expected: str) -> None:
    assert normalize_text(text) == expected, category


@pytest.mark.parametrize("text", [t for t, _ in SPEECH_CHECKED] + [t for _, t, _ in ALL_CASES])
def test_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_no_digits_left_in_english() -> None:
    for _, text, _ in ALL_CASES:
        assert not any(ch.isdigit() for ch in normalize_text(text)), text


def test_empty_and_whitespace() -> None:
    assert normalize_text("") == ""
    assert normalize_text("en") == "en"


def test_english_variants_use_english_rules() -> None:
    assert normalize_text("I have 5 cats.", "en-US") == "I have five cats."
    assert normalize_text("I have 5 cats.", "en_GB") == "I have five cats."
    assert normalize_text("I have 5 cats.", "EN") == "I have five cats."


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("fr", "J'ai 3 pommes et 21 poires.", "J'ai trois pommes et vingt et un poires."),
        ("fr", "Il fait 2,5 degrés.", "Il fait deux virgule cinq degrés."),
        ("fr", "Ça coûte 1.234 euros.", "Ça coûte mille deux cent trente-quatre euros."),
        ("es", "Tengo 42 libros.", "Tengo cuarenta y dos libros."),
        ("es", "Mide 3.5 metros.", "Mide tres punto cinco metros."),
        ("de", "Es sind 21 Tage.", "Es sind einundzwanzig Tage."),
        ("pt-BR", "São 2 dias.", "São dois dias."),
        ("fr", "C’est l’été.", "C'est l'été."),
    ],
)
def test_other_languages_spell_numbers(language: str, text: str, expected: str) -> None:
    assert normalize_text(text, language) == expected


@pytest.mark.parametrize("language", ["ko", "ja", "zh", "na", "xx", "", "klingon", "-", "en-"])
def test_any_language_code_is_safe(language: str) -> None:
    result = normalize_text("Room 5 costs $3, it’s fine.", language)
    assert isinstance(result, str) and result


@pytest.mark.parametrize("language", ["na", "xx", "zh", "", "klingon"])
def test_unsupported_language_passes_through(language: str) -> None:
    text = "Room 5 costs $3, it’s fine."
    assert normalize_text(text, language) == text


def test_korean_numbers_use_num2words() -> None:
    assert normalize_text("사과 3", "ko") == "사과 삼"


def test_huge_number_in_limited_language_is_left_as_written() -> None:
    huge = "1" + "0" * 40
    assert normalize_text(f"Son {huge}.", "es") == f"Son {huge}."


def test_words_for_wer_matches_transcript_styles() -> None:
    reference = words_for_wer("The train delay was announced at 4:45 PM on Wed, Apr 3, 2024 due to track maintenance.")
    assert reference == [
        "the",
        "train",
        "delay",
        "was",
        "announced",
        "at",
        "four",
        "forty",
        "five",
        "pm",
        "on",
        "wednesday",
        "april",
        "third",
        "twenty",
        "twenty",
        "four",
        "due",
        "to",
        "track",
        "maintenance",
    ]
    for transcript in (
        "The train delay was announced at 4:45 p.m. on Wednesday, April 3, 2024, due to track maintenance.",
        "the train delay was announced at four forty-five P M on Wednesday April third twenty twenty-four due to "
        "track maintenance",
        "The train delay was announced at 4.45 pm on Wednesday, April 3rd, 2024 due to track maintenance.",
    ):
        assert words_for_wer(transcript) == reference, transcript


def test_words_for_wer_money_and_phone() -> None:
    assert (
        words_for_wer("$450K seed")
        == words_for_wer("$450,000 seed")
        == ["four", "hundred", "fifty", "thousand", "dollars", "seed"]
    )
    assert words_for_wer("(212) 555-0142 ext. 402") == words_for_wer("212-555-0142, extension 402")


def test_words_for_wer_keeps_inner_apostrophes_and_joins_letters() -> None:
    assert words_for_wer("It’s the CEOs' 'big' day, F B I.") == ["it's", "the", "ceo's", "big", "day", "fbi"]
    assert words_for_wer("") == []


@pytest.mark.parametrize(
    ("reference", "transcript"),
    [
        (
            SPEECH_CHECKED[0][0],
            "The startup secured $5.2 million in venture capital, a huge leap from their initial $450,000 seed round.",
        ),
        (
            SPEECH_CHECKED[1][0],
            "The train delay was announced at 4:45 p.m. on Wednesday, April 3rd, 2024, due to track maintenance.",
        ),
        (
            SPEECH_CHECKED[2][0],
            "You can reach the hotel front desk at 212-555-0142, extension 402, anytime.",
        ),
        (
            SPEECH_CHECKED[3][0],
            "Our drone battery lasts 2.3 hours when flying at 30 km/h with full camera payload.",
        ),
        (
            SPEECH_CHECKED[3][0],
            "Our drone battery lasts two point three hours when flying at thirty kilometers per hour with full camera "
            "payload.",
        ),
    ],
)
def test_words_for_wer_speech_checked_transcripts(reference: str, transcript: str) -> None:
    assert words_for_wer(transcript) == words_for_wer(reference)


@pytest.mark.parametrize(
    "text",
    ["1" + "0" * 400, "1" + "0" * 5000, "10" * 30 + "th", "$" + "9" * 5000 + ".5", "9" * 50 + "/" + "3" * 50],
)
@pytest.mark.parametrize("language", ["en", "fr", "es", "ja"])
def test_huge_numbers_never_crash(text: str, language: str) -> None:
    result = normalize_text(text, language)
    assert normalize_text(result, language) == result


def test_huge_number_is_read_digit_by_digit() -> None:
    assert normalize_text("1" + "0" * 20) == "one" + " zero" * 20
