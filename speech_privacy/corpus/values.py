"""Entity values of the SLURP-style corpus, by entity type (the type names follow SLURP,
Bastianelli et al., EMNLP 2020). Every value is lowercase words that eSpeak NG reads as
written: numbers, times and dates are spelled out, no digits or abbreviations. The lists are
common first names, world cities and household items written in here, and times, dates,
numbers, durations, song titles, artists, dishes and events built combinatorially from small
word lists, so that each main type has hundreds of values."""

from __future__ import annotations

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth",
            "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> str:
    """0 <= n < 1000 in words, US style: 342 -> "three hundred forty two"."""
    if not 0 <= n < 1000:
        raise ValueError(f"{n} is outside 0..999")
    hundreds, rest = divmod(n, 100)
    words = [_ONES[hundreds], "hundred"] if hundreds else []
    if rest >= 20:
        words += [_TENS[rest // 10]] + ([_ONES[rest % 10]] if rest % 10 else [])
    elif rest or not words:
        words.append(_ONES[rest])
    return " ".join(words)


def ordinal_words(n: int) -> str:
    """1 <= n < 100 as an ordinal: 21 -> "twenty first", 30 -> "thirtieth"."""
    *head, last = number_words(n).split()
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join(head + [last])


def _listed(text: str) -> tuple[str, ...]:
    """Comma-separated values, whitespace (line breaks too) collapsed to one space."""
    return tuple(" ".join(v.split()) for v in text.split(",") if v.strip())


PERSON = _listed("""
    aaron, abigail, adam, adrian, aiden, alan, albert, alex, alexander, alice, alison, amanda,
    amber, amelia, amy, andrea, andrew, angela, anna, annie, anthony, april, arthur, ashley,
    audrey, austin, barbara, barry, beatrice, ben, benjamin, bernard, beth, betty, beverly,
    bill, billy, bob, bonnie, brandon, brenda, brian, bridget, brittany, brooke, bruce, bryan,
    caleb, calvin, cameron, carl, carla, carlos, carmen, carol, caroline, carrie, casey,
    catherine, cecilia, chad, charles, charlie, charlotte, chelsea, cheryl, chloe, chris,
    christian, christina, christopher, cindy, claire, clara, clarence, claudia, colin, connor,
    craig, crystal, cynthia, daisy, dale, dan, daniel, danny, darren, dave, david, dean,
    deborah, dennis, derek, diana, diane, dominic, donald, donna, doris, dorothy, douglas,
    dylan, eddie, edgar, edith, edward, eileen, elaine, eleanor, elena, eli, elijah, elizabeth,
    ella, ellen, emily, emma, eric, erica, erin, ethan, eugene, eva, evan, evelyn, felix, fiona,
    frances, francis, frank, fred, gabriel, gail, gary, george, georgia, gerald, gina, glen,
    gloria, gordon, grace, graham, grant, greg, gregory, hannah, harold, harriet, harry, hazel,
    heather, helen, henry, holly, howard, hugh, ian, irene, isaac, isabel, ivan, jack, jackie,
    jacob, jake, james, jamie, jane, janet, janice, jason, jean, jeff, jennifer, jeremy, jerry,
    jessica, jill, jim, joan, joanna, joe, joel, john, johnny, jonathan, jordan, joseph, josh,
    joshua, joyce, judith, judy, julia, julian, julie, justin, karen, kate, katherine, kathleen,
    kathy, keith, kelly, ken, kevin, kim, kyle, larry, laura, lauren, lawrence, leah, leo, leon,
    leonard, lily, linda, lisa, logan, louis, louise, lucas, lucy, luke, lydia, lynn, madison,
    maggie, marcus, margaret, maria, marie, marilyn, mark, martha, martin, mary, matthew,
    maureen, max, megan, melanie, melissa, michael, michelle, mike, miles, molly, monica, nancy,
    naomi, natalie, nathan, neil, nicholas, nicole, nina, noah, norman, olivia, oliver, oscar,
    owen, pamela, patricia, patrick, paul, paula, peggy, penny, peter, philip, phoebe, phyllis,
    rachel, ralph, randy, ray, raymond, rebecca, regina, rita, robert, robin, roger, ronald,
    rose, roy, ruby, russell, ruth, ryan, sally, samantha, samuel, sandra, sarah, scott, sean,
    sharon, shawn, sheila, shirley, simon, sophia, sophie, stanley, stella, stephanie, stephen,
    steve, stuart, susan, sylvia, tammy, teresa, terry, theodore, thomas, tiffany, tim, timothy,
    tina, todd, tom, tony, tracy, travis, trevor, tyler, valerie, vanessa, vera, victor,
    victoria, vincent, virginia, walter, wanda, warren, wayne, wendy, wesley, william, willie,
    yvonne, zachary, zoe""")

PLACE_NAME = _listed("""
    aberdeen, acapulco, adelaide, albany, albuquerque, algiers, amsterdam, anchorage, ankara,
    antwerp, athens, atlanta, auckland, baltimore, bangkok, barcelona, beijing, belfast,
    belgrade, berlin, bern, birmingham, bogota, bologna, bordeaux, boston, brisbane, bristol,
    brussels, bucharest, budapest, buffalo, cairo, calgary, cambridge, canberra, cardiff,
    charleston, chicago, cincinnati, cleveland, cologne, columbus, copenhagen, cork, dallas,
    damascus, denver, detroit, dover, dresden, dublin, dundee, durban, edinburgh, edmonton,
    florence, frankfurt, fresno, geneva, genoa, glasgow, granada, hamburg, hanoi, havana,
    helsinki, honolulu, houston, indianapolis, istanbul, jakarta, jerusalem, johannesburg,
    kansas city, kingston, kyoto, lagos, leeds, leipzig, lima, lisbon, liverpool, london, los
    angeles, lyon, madrid, manchester, manila, marseille, melbourne, memphis, miami, milan,
    minneapolis, montreal, moscow, munich, nairobi, naples, nashville, new orleans, new york,
    newcastle, oakland, orlando, osaka, oslo, ottawa, oxford, palermo, paris, perth,
    philadelphia, phoenix, pittsburgh, plymouth, portland, prague, quebec, reno, richmond, riga,
    rome, rotterdam, sacramento, salzburg, san diego, san francisco, santiago, seattle, seoul,
    seville, shanghai, singapore, sofia, stockholm, stuttgart, sydney, tampa, tokyo, toronto,
    toulouse, tucson, turin, valencia, vancouver, venice, vienna, warsaw, washington,
    wellington, winnipeg, york, zurich, akron, amarillo, anaheim, ann arbor, asheville, aspen,
    bakersfield, baton rouge, berkeley, billings, boise, boulder, bozeman, brighton, burlington,
    chattanooga, cheyenne, dayton, des moines, duluth, el paso, fargo, flagstaff, fort worth,
    galveston, grand rapids, green bay, hartford, jacksonville, juneau, knoxville, lancaster,
    laredo, las vegas, lexington, lincoln, little rock, louisville, lubbock, milwaukee,
    missoula, montgomery, nantucket, newark, norfolk, omaha, palm springs, pasadena, pensacola,
    peoria, providence, raleigh, rochester, saint louis, saint paul, salem, salt lake city, san
    antonio, san jose, santa fe, santa barbara, savannah, scranton, shreveport, spokane,
    springfield, syracuse, tacoma, tallahassee, toledo, topeka, trenton, tulsa, wichita,
    wilmington, worcester, yonkers, canterbury, chester, coventry, exeter, galway, inverness,
    leicester, norwich, nottingham, sheffield, southampton, swansea, bergen, bremen, bruges,
    cannes, dijon, ghent, hanover, innsbruck, krakow, lille, lucerne, malaga, marbella, nantes,
    nuremberg, porto, rennes, siena, strasbourg, tallinn, vilnius, zagreb, marrakesh,
    casablanca, tunis, accra, dakar, addis ababa, cape town, mumbai, delhi, calcutta, karachi,
    lahore, kathmandu, colombo, dhaka, taipei, hong kong, macau, kuala lumpur, hobart, cairns,
    christchurch, dunedin, rio de janeiro, sao paulo, buenos aires, montevideo, caracas, quito,
    panama city, san juan, guadalajara, monterrey, cancun, halifax, saskatoon, reykjavik""")

LIST_ITEM = _listed("""
    apples, bananas, oranges, lemons, limes, grapes, pears, peaches, plums, cherries,
    strawberries, blueberries, raspberries, melons, pineapple, mangoes, avocados, tomatoes,
    potatoes, onions, garlic, carrots, celery, cucumbers, lettuce, spinach, cabbage, broccoli,
    cauliflower, peppers, mushrooms, zucchini, pumpkin, beans, peas, corn, rice, pasta, noodles,
    flour, sugar, salt, honey, jam, butter, cheese, milk, cream, yogurt, eggs, bread, bagels,
    muffins, croissants, cereal, oats, granola, crackers, cookies, biscuits, chocolate, candy,
    popcorn, chips, pretzels, peanuts, almonds, walnuts, cashews, raisins, coffee, tea, juice,
    lemonade, soda, sparkling water, wine, beer, chicken breasts, ground beef, pork chops, lamb,
    sausages, bacon, ham, sliced turkey, salmon, tuna, shrimp, tofu, ketchup, mustard,
    mayonnaise, vinegar, olive oil, soy sauce, hot sauce, cinnamon, vanilla, nutmeg, oregano,
    basil, parsley, ginger, paprika, curry powder, baking soda, yeast, napkins, paper towels,
    toilet paper, tissues, trash bags, aluminum foil, plastic wrap, dish soap, laundry
    detergent, bleach, sponges, light bulbs, batteries, candles, matches, shampoo, conditioner,
    toothpaste, toothbrush, hand soap, deodorant, razors, lotion, sunscreen, bandages, aspirin,
    vitamins, cough drops, dog food, cat food, bird seed, flowers, plant food, envelopes,
    stamps, pens, pencils, notebooks, tape, glue, scissors, string, rope, nails, screws, hammer,
    paint brushes, gloves, socks, slippers, towels, sheets, pillows, blankets, hangers,
    umbrella, sunglasses, wallet, phone charger, headphones, phone case, printer paper, ink
    cartridges, stapler, calculator, wall calendar, alarm clock, picture frame, vase, mirror,
    rug, doormat, broom, mop, bucket, ladder, flashlight, extension cord, desk fan, space
    heater, kettle, toaster, blender, frying pan, saucepan, baking tray, mixing bowl, cutting
    board, measuring cups, whisk, spatula, ladle, corkscrew, bottle opener, ice cube trays,
    coffee filters, tea bags, straws, paper plates, plastic cups, birthday cards, wrapping
    paper, ribbon, balloons, gift bags, board games, jigsaw puzzle, crayons, markers, stickers,
    tennis balls, golf balls, swim goggles, yoga mat, water bottle, lunch box, backpack,
    suitcase, passport, sun hat, raincoat, boots, scarf, mittens, ice cream, frozen peas, fish
    sticks, pizza dough, tortillas, salsa, hummus, pickles, olives, capers, anchovies, sardines,
    lentils, chickpeas, quinoa, couscous, maple syrup, peanut butter, brown sugar, cocoa powder,
    breadcrumbs, cornflakes, orange juice, apple juice, oat milk, sour cream, cottage cheese,
    mozzarella, parmesan, cheddar, dog treats, cat litter, fabric softener, glass cleaner,
    garbage bags, rubber bands, paper clips, sticky notes, thumbtacks""")

_HOURS = tuple(number_words(h) for h in range(1, 13))
_MINUTES = ("o'clock", "oh five", "ten", "fifteen", "twenty", "twenty five", "thirty",
            "thirty five", "forty", "forty five", "fifty", "fifty five")
_CLOCK = tuple(f"{h} {m}" for h in _HOURS for m in _MINUTES) + tuple(
    f"{q} {h}" for h in _HOURS for q in ("quarter past", "half past", "quarter to"))
TIME = tuple(f"{c}{p}" for c in _CLOCK for p in ("", " in the morning", " at night")
             ) + ("noon", "midnight")

_MONTHS = (("january", 31), ("february", 29), ("march", 31), ("april", 30), ("may", 31),
           ("june", 30), ("july", 31), ("august", 31), ("september", 30), ("october", 31),
           ("november", 30), ("december", 31))
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DATE = tuple(f"{m} {ordinal_words(d)}" for m, days in _MONTHS for d in range(1, days + 1)) + (
    _WEEKDAYS + tuple(f"{w} {d}" for w in ("this", "next") for d in _WEEKDAYS)
    + ("today", "tomorrow", "the day after tomorrow", "this weekend", "next weekend",
       "next week"))

# Three-digit numbers whose last two digits are neither round nor a teen ("one hundred twenty
# one"): no number lies inside another value and no value inside a number, so a number kept
# for test clips never turns up inside a training clip's value.
NUMBER = tuple(number_words(100 * h + 10 * t + u) for h in (1, 2, 3) for t in range(2, 10)
               for u in range(1, 10))

DURATION = tuple(f"{number_words(n)} {unit}{'s' if n > 1 else ''}"
                 for unit, top in (("second", 59), ("minute", 59), ("hour", 12))
                 for n in range(1, top + 1))

_SONG_ADJECTIVES = ("blue golden silver broken lonely wild summer midnight electric velvet "
                    "crimson quiet burning frozen endless hollow gentle restless shining "
                    "distant").split()
_SONG_NOUNS = ("river highway morning heart dreams rain fire moon ocean sky garden road city "
               "thunder shadows diamonds roses echoes horizon letters").split()
SONG_NAME = tuple(f"{a} {n}" for a in _SONG_ADJECTIVES for n in _SONG_NOUNS)

_ARTIST_FIRST = "billy ella frank jack jane johnny kate lily max nina ray ruby".split()
_SURNAMES = ("adams baker brooks carter clarke davis ellis fisher foster gray hayes hughes "
             "jensen keller lane marsh morgan nash parker porter reed shaw stone turner "
             "wells").split()
_BANDS = ("strangers wanderers lanterns pioneers drifters ravens sparrows rockets harbors "
          "travelers monarchs outlaws dreamers satellites comets volcanoes shepherds "
          "magicians sailors rebels").split()
ARTIST_NAME = tuple(f"{f} {s}" for f in _ARTIST_FIRST for s in _SURNAMES) + tuple(
    f"the {b}" for b in _BANDS)

_DISH_BASES = ("chicken beef pork lamb shrimp salmon tuna mushroom spinach tomato potato "
               "pumpkin lentil bean cheese vegetable lemon garlic ginger coconut").split()
_DISHES = "soup curry pie salad stew risotto pasta tacos burgers noodles casserole sandwich"
FOOD_TYPE = tuple(f"{b} {d}" for b in _DISH_BASES for d in _DISHES.split())

_GROUPS = ("team, budget, project, board, sales, marketing, staff, family, planning, client, "
           "strategy, design, research, product, school, church, office, charity, book club, "
           "neighborhood").split(", ")
_ACTIVITIES = ("yoga piano guitar dance swimming tennis soccer cooking painting karate "
               "singing drawing violin pottery chess").split()
EVENT_NAME = (tuple(f"{g} {e}" for g in _GROUPS for e in ("meeting", "call", "lunch", "dinner",
                                                            "review", "party", "breakfast",
                                                            "workshop"))
              + tuple(f"{a} {e}" for a in _ACTIVITIES for e in ("class", "lesson", "practice"))
              + tuple(f"{a} appointment" for a in ("dentist", "doctor", "eye", "vet", "hair",
                                                   "garage")))

LIST_NAME = _listed("""shopping, grocery, to do, packing, christmas, birthday, wish, reading,
    chores, holiday, hardware, camping, party, gift, pharmacy, garden, school, work, weekend,
    errands""")
HOUSE_PLACE = _listed("""kitchen, bedroom, living room, bathroom, hallway, garage, basement,
    attic, dining room, office, nursery, porch, laundry room, guest room, study""")
DEVICE_TYPE = _listed("""lamp, ceiling fan, heater, air conditioner, television,
    robot vacuum, coffee machine, dishwasher, washing machine, speaker, dehumidifier, stereo,
    sprinkler, garage door""")
NEWS_TOPIC = _listed("""politics, sports, business, technology, science, health, the economy,
    the election, football, basketball, baseball, movies, travel, education, climate, space,
    art, fashion, cars, the stock market, world news, local news, energy, medicine""")
CURRENCY_NAME = _listed("""dollars, euros, pounds, yen, pesos, rupees, francs, kronor, rubles,
    yuan, rand, dinars, shekels, baht, zloty""")
MUSIC_GENRE = _listed("""jazz, rock, blues, classical, country, reggae, hip hop, soul, funk,
    folk, pop, disco, metal, punk, gospel, techno, opera, swing, bluegrass, latin""")
COLOR_TYPE = _listed("""red, orange, yellow, green, blue, purple, pink, white, warm white,
    cool white, teal, violet""")

#: Entity type -> values.
VALUES: dict[str, tuple[str, ...]] = {
    "person": PERSON, "place_name": PLACE_NAME, "time": TIME, "date": DATE, "number": NUMBER,
    "duration": DURATION, "song_name": SONG_NAME, "artist_name": ARTIST_NAME,
    "list_item": LIST_ITEM, "food_type": FOOD_TYPE, "event_name": EVENT_NAME,
    "list_name": LIST_NAME, "house_place": HOUSE_PLACE, "device_type": DEVICE_TYPE,
    "news_topic": NEWS_TOPIC, "currency_name": CURRENCY_NAME, "music_genre": MUSIC_GENRE,
    "color_type": COLOR_TYPE}

#: The types whose values carry the content an attacker is after; each has hundreds of values.
MAIN_TYPES = ("person", "place_name", "time", "date", "number", "song_name", "artist_name",
              "list_item", "food_type", "event_name")
