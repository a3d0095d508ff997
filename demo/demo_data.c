/* SPDX-License-Identifier: MIT */
/* demo_data.c - the fixed lists 'caresyncd demo' draws from: invented names, streets and
 * surgeries in the fictional town of Northbrook, and the words of plans, notes and alerts.
 * Everything here is made up; any likeness to a real person is chance. */
#include "demo.h"

#define LIST(name, ...)                                  \
    static const char *const name##_v[] = {__VA_ARGS__}; \
    const struct demo_list name = {name##_v, ELEMENTSOF(name##_v)}

/* ---- people and places ---- */

LIST(demo_given_f, "Margaret", "Joan", "Patricia", "Barbara", "Irene", "Maureen", "Sheila",
     "Brenda", "Jean", "Pauline", "Sylvia", "Edna", "Hilda", "Winifred", "Nasreen", "Bronwen",
     "Agnieszka", "Precious", "Yvonne", "Carol", "Lorraine", "Dorothy", "Eileen", "Gwen", "Mavis",
     "Rita", "Valerie", "June", "Shirin", "Hyacinth", "Kamala", "Teresa", "Moira", "Elspeth",
     "Ngozi", "Rosalind", "Vera", "Alma", "Beryl");
LIST(demo_given_m, "Frank", "Arthur", "Kenneth", "Derek", "Raymond", "Stanley", "Bernard", "Cyril",
     "Leonard", "Dennis", "Trevor", "Malcolm", "Godfrey", "Tariq", "Desmond", "Jerzy", "Albert",
     "Harold", "Clifford", "Roy", "Gordon", "Winston", "Iqbal", "Ivor", "Keith", "Barry", "Colin",
     "Norman", "Ernest", "Emeka", "Rajinder", "Hamish", "Wilfred", "Lloyd", "Mervyn", "Aurelio");
/* Invented surnames: compounds of plants, birds and landscape words. (Doreen Ashworth, the
 * example person of the domain model, is added by hand and is the only Ashworth.) */
LIST(demo_surnames, "Brackenfold", "Cindervale", "Dapplewick", "Eldergate", "Fernhollow",
     "Gorsebrook", "Hazelmoor", "Inkerby", "Juniperfield", "Kettlecombe", "Larkhollow", "Mossgrove",
     "Nettlebeck", "Oakenfold", "Pebblethwaite", "Quillfield", "Rookwhistle", "Sallowmere",
     "Thistlethorpe", "Umberdale", "Vetchley", "Willowmere", "Yarrowby", "Amberlow", "Birchcombe",
     "Copperhollow", "Dunnockley", "Emberwick", "Foxgloveham", "Gannetby", "Heronsgate", "Ivyholme",
     "Lapwingdale", "Marramfield", "Nightjarley", "Orchardwick", "Plovermere", "Quarrenby",
     "Reedhollow", "Sedgewick", "Teasleby", "Wrenthorpe");
/* Streets of Northbrook; the first half are in the North neighbourhood (NB1, NB2), the second
 * half in the South (NB3, NB4). */
LIST(demo_streets, "Kiln Lane", "Ropewalk", "Tanners Row", "Mill Race", "Chapel Fold",
     "Lantern Street", "Weavers Close", "Orchard Rise", "Beckside", "Flax Yard", "Saltings Way",
     "Quarry Hill", "Bellfounders Court", "Lock Keepers Walk", "Cooper Street", "Heron Wharf",
     "Pinfold Lane", "Tollgate Road", "Cloth Hall Street", "Brewery Fields");
LIST(demo_gp_practices, "Northbrook Riverside Surgery", "Kiln Lane Medical Practice",
     "Beckside Health Centre", "Tollgate Road Surgery", "Northbrook Central Medical Group");
LIST(demo_funding, "Council: Care Act eligible needs", "NHS Continuing Healthcare", "Self-funded",
     "Direct payment", "No paid support");
LIST(demo_pronoun_f, "she/her");
LIST(demo_pronoun_m, "he/him");

const struct demo_relation demo_relations[] = {
        {"Daughter", "CHILD", true},
        {"Son", "CHILD", false},
        {"Wife", "SPS", true},
        {"Husband", "SPS", false},
        {"Neighbour", "NBOR", true},
        {"Neighbour", "NBOR", false},
        {"Friend", "FRND", true},
        {"Friend", "FRND", false},
        {"Niece", "FAMMEMB", true},
        {"Nephew", "FAMMEMB", false},
        {"Sister", "SIB", true},
        {"Brother", "SIB", false},
        {"Granddaughter", "FAMMEMB", true},
};
const size_t demo_n_relations = ELEMENTSOF(demo_relations);

LIST(demo_involvement, "Rings every evening and does the big shop on Saturdays.",
     "Lives two streets away; pops in most mornings and has the key safe code.",
     "Lives away and visits once a month; prefers email.",
     "Helps with post and bills; please copy them into letters about money.",
     "Does not want to be contacted about day-to-day care, only emergencies.",
     "Takes them to the allotment club on Thursdays.",
     "Main unpaid carer; has said they are finding it hard to keep going.");

/* ---- About Me (the person's own words) ---- */

LIST(demo_about_what_matters, "My cat Bramble and getting to the allotment club on Thursdays.",
     "Staying in my own home, where I brought up my children.",
     "Seeing my grandchildren at the weekend and hearing about their week.",
     "Going to Friday prayers at the mosque on Lantern Street.",
     "My garden. I want to keep the roses going that my husband planted.",
     "Being able to make my own cup of tea when I want one.",
     "My faith and my church friends at St Aldhelm's.",
     "Listening to the cricket on the radio and talking about it after.",
     "Keeping my independence. I don't want fuss.",
     "Getting back to the choir at the community centre.");
LIST(demo_about_people, "My {r} {c}, who I speak to every day.",
     "{c}, my {r}. Please keep them in the loop.",
     "My {r} {c} and my friends from the luncheon club.", "{c} next door, and my dog Pip.",
     "My late husband's family, and {c} who helps me most.");
LIST(demo_about_communication,
     "I am hard of hearing on my left side. Sit on my right and speak clearly.",
     "I like things written down so I can read them again later.",
     "My first language is Punjabi. My English is fine day to day but not for forms.",
     "Please give me time to answer. I get there.",
     "I use a tablet for video calls with my family; I'm happy to do appointments that way.",
     "I don't like the phone. Knock and wait, or write to me.");
LIST(demo_about_wellness, "My legs swell in the afternoons, so mornings are best for me.",
     "I get low in the winter. Having something to look forward to helps.",
     "I have diabetes and check my sugar before breakfast.",
     "My breathing is worse in cold weather; I keep my inhaler by my chair.",
     "I sleep badly and am tired in the mornings.",
     "I had a fall last year and I'm frightened of having another one.");
LIST(demo_about_please_do,
     "Please do knock loudly and wait. Please don't talk to my son about money.",
     "Please do take your shoes off. Please don't move things in my kitchen.",
     "Please do tell me your name each time. Please don't call me 'love'.",
     "Please do ring before you come. Please don't come before 10 o'clock.",
     "Please do talk to me, not just to my daughter.",
     "Please do close the gate behind you so the dog can't get out.");
LIST(demo_about_support, "Help me plan my week on a Monday so I know who is coming.",
     "Encourage me to do my exercises; I forget if nobody asks.",
     "Remind me to drink. I don't notice I'm thirsty.",
     "Be patient with me in the mornings, my hands are stiff until I've warmed up.",
     "Talk me through things step by step; I like to understand what's happening.");
LIST(demo_about_worth_knowing,
     "I was a bus driver for thirty years and know every road in Northbrook.",
     "I taught infants at the school on Cooper Street.",
     "I came to Northbrook in 1962 and worked at the cloth mill.",
     "I used to run the allotment society and still like to be asked for advice.",
     "I was a nurse myself, so I like to know the details.",
     "I love a quiz and I'm good at crosswords.");
LIST(demo_about_appreciate, "People say I'm funny and always have a story.",
     "My neighbours say I'm the one who knows what's going on in the street.",
     "My family say I'm determined and kind.", "I'm a good listener and people tell me things.",
     "I make the best Victoria sponge in Northbrook.");

LIST(demo_communication_needs, "Hard of hearing: face them and speak clearly.",
     "Uses large print; letters in 16 point.",
     "Punjabi speaker; use an interpreter for assessments and reviews.",
     "British Sign Language user; book a BSL interpreter.",
     "Memory problems: leave a written note of what was agreed.",
     "Partially sighted: say who you are when you arrive.");
LIST(demo_access_instructions, "Key safe by the back door; code held by the neighbour.",
     "Knock loudly and wait; takes a few minutes to reach the door.",
     "Side gate is stiff; use the front door.",
     "Ring the bell twice; the dog will be shut in the kitchen.",
     "Ground floor flat, entry phone 4. Lift out of order often.",
     "Please park on the road, not the drive.");

/* ---- plans ---- */

const struct demo_goal demo_goals[] = {
        {"mobility",
         "Walk to the post office with my frame",
         "Walk to the garden gate and back",
         {{"Do my leg exercises every morning", "person", "Every morning"},
          {"Home assessment for a second stair rail", "occupational_therapist", "This month"},
          {"Strength and balance programme", "physiotherapist", "Weekly for six weeks"},
          {"Walk with me to the end of the road", "volunteer", "Thursdays"}},
         {"I got to the gate twice this week.", "My legs are stronger, I can feel it.",
          "I had a bad week and didn't try."}},
        {"wellbeing",
         "Feel less lonely in the evenings",
         NULL,
         {{"Find a befriender for a weekly visit", "link_worker", "By end of month"},
          {"Phone me on Sunday evenings", "carer", "Sundays"},
          {"Try the Tuesday luncheon club at the community centre", "person", "Tuesdays"},
          {"Befriending visit", "volunteer", "Weekly"}},
         {"The evenings still drag but Sundays are better.", "I enjoyed the luncheon club.",
          "I've had nobody to talk to this week."}},
        {"health",
         "Keep my leg healed so I can wear my own shoes",
         NULL,
         {{"Change the dressing on my leg", "nurse", "Twice a week"},
          {"Keep my legs up in the afternoon", "person", "Every afternoon"},
          {"Check my compression stockings fit", "nurse", "At each visit"},
          {NULL, NULL, NULL}},
         {"The nurse says it's getting smaller.", "It's less sore than it was.",
          "It's weeping again and I'm fed up."}},
        {"health",
         "Understand my tablets and take them at the right time",
         NULL,
         {{"Set up a blister pack with the pharmacy", "nurse", "This week"},
          {"Go through my tablets with me", "nurse", "Next visit"},
          {"Tick the chart on the fridge", "person", "Every day"},
          {NULL, NULL, NULL}},
         {"I haven't missed any this week.", "The chart helps.", "I got muddled on Tuesday."}},
        {"health",
         "Keep my sugar steady so I don't end up in hospital",
         NULL,
         {{"Check my sugar before breakfast and write it down", "person", "Every morning"},
          {"Review my readings with me", "nurse", "Weekly"},
          {"Help me plan meals for the week", "carer", "Sundays"},
          {NULL, NULL, NULL}},
         {"My numbers have been better.", "I had a hypo on Thursday and it scared me.",
          "I'm getting the hang of it."}},
        {"breathing",
         "Be able to get upstairs without stopping for breath",
         "Manage half the stairs without stopping",
         {{"Breathing exercises", "physiotherapist", "Daily, shown weekly"},
          {"Use my inhaler the right way", "person", "Twice a day"},
          {"Check my oxygen levels", "nurse", "At each visit"},
          {NULL, NULL, NULL}},
         {"I did half the stairs today.", "Cold days are still hard.",
          "I'm less puffed than last month."}},
        {"daily living",
         "Make my own breakfast again",
         "Make a cup of tea safely",
         {{"Kitchen assessment and a perching stool", "occupational_therapist", "Next two weeks"},
          {"Practise making tea with me", "occupational_therapist", "Weekly"},
          {"Move the kettle to the low counter", "carer", "This weekend"},
          {"Help with breakfast on weekdays", "personal_assistant", "Weekdays"}},
         {"I made my own tea every day this week.", "The stool makes a big difference.",
          "I'm still nervous with the kettle."}},
        {"daily living",
         "Have a shower on my own",
         NULL,
         {{"Bathroom assessment for a shower seat and rails", "occupational_therapist",
           "This month"},
          {"Help with showering until the seat is fitted", "personal_assistant", "Mon, Wed, Fri"},
          {"Ask the council about a level-access shower", "social_worker", "By next review"},
          {NULL, NULL, NULL}},
         {"The seat has made me feel safer.", "Still waiting to hear from the council.",
          "I managed on my own on Sunday."}},
        {"money",
         "Sort out my money worries",
         NULL,
         {{"Benefits check, including Attendance Allowance", "link_worker", "Next visit"},
          {"Help fill in the Attendance Allowance form", "link_worker", "Within a month"},
          {"Send the gas bill letters to my daughter", "person", "When they arrive"},
          {NULL, NULL, NULL}},
         {"The form has gone off.", "I'm worrying less now someone is helping.",
          "I got a letter I didn't understand."}},
        {"home",
         "Stay warm at home this winter",
         NULL,
         {{"Apply to the warm homes grant", "link_worker", "Before November"},
          {"Check the boiler works and the thermostat is easy to read", "carer", "This month"},
          {"Check my house is warm enough on each visit", "nurse", "Each visit"},
          {NULL, NULL, NULL}},
         {"The new thermostat is easier.", "It's been cold but I've kept the heating on.",
          "The grant people haven't rung back."}},
        {"social",
         "Get back to the choir at the community centre",
         "Go to one rehearsal with a friend",
         {{"Find out about transport to the community centre", "link_worker", "This month"},
          {"Come with me the first time", "volunteer", "Next rehearsal"},
          {"Practise my songs at home", "person", "Most days"},
          {NULL, NULL, NULL}},
         {"I went last week and loved it.", "I was too tired to go this week.",
          "They saved my place in the altos."}},
        {"social",
         "See my grandchildren more often",
         NULL,
         {{"Set up video calls on my tablet", "link_worker", "Next visit"},
          {"Bring the children on Sundays", "carer", "Every other Sunday"},
          {"Practise using the tablet", "person", "Twice a week"},
          {NULL, NULL, NULL}},
         {"I spoke to them on the tablet!", "I forgot the password again.",
          "They came on Sunday and it was lovely."}},
        {"safety",
         "Not have another fall",
         NULL,
         {{"Falls risk assessment and a pendant alarm", "occupational_therapist", "This month"},
          {"Strength and balance exercises", "physiotherapist", "Weekly for eight weeks"},
          {"Wear my pendant alarm", "person", "All the time"},
          {"Check rugs and lighting on each visit", "team", "Each visit"}},
         {"No falls this month.", "I had a wobble but didn't fall.",
          "I feel steadier on my feet."}},
        {"carer",
         "Give my wife a break so she doesn't get worn out",
         NULL,
         {{"Carer's assessment for my wife", "social_worker", "Within a month"},
          {"Look into a sitting service on Wednesdays", "social_worker", "By next review"},
          {"Tell someone if I'm struggling", "carer", "Any time"},
          {NULL, NULL, NULL}},
         {"She had an afternoon off and went to her sister's.",
          "We're still waiting for the assessment.", "She seems less tired."}},
        {"wellbeing",
         "Feel more like myself again",
         NULL,
         {{"Talk to the GP about how low I've been", "person", "This week"},
          {"Weekly check-in call", "link_worker", "Weekly"},
          {"Go for a short walk when it's dry", "person", "Most days"},
          {"Share how I'm feeling with my daughter", "carer", "When I can"}},
         {"A bit brighter this week.", "I didn't want to get up most days.",
          "The walks help when I do them."}},
        {"home",
         "Stay in my own home",
         NULL,
         {{"Review the care package with me", "social_worker", "At review"},
          {"Arrange a key safe so carers can get in", "social_worker", "This month"},
          {"Help with shopping and the house", "personal_assistant", "Weekdays"},
          {NULL, NULL, NULL}},
         {"I'm managing with the help I have.", "I had a difficult week but I'm still here.",
          "I don't want to move."}},
        {"health",
         "Manage my pain so I can sleep",
         NULL,
         {{"Review my pain relief with the GP", "nurse", "This fortnight"},
          {"Try the heat pad before bed", "person", "Every night"},
          {"Gentle stretches for my back", "physiotherapist", "Weekly"},
          {NULL, NULL, NULL}},
         {"I slept through twice this week.", "The pain is worse in the cold.",
          "The stretches help a bit."}},
        {"daily living",
         "Get out to the shops on my own",
         "Catch the bus into town with someone",
         {{"Apply for a bus pass and a blue badge", "link_worker", "This month"},
          {"Come on the bus with me the first time", "volunteer", "Next Thursday"},
          {"Practise walking with the new trolley", "physiotherapist", "Weekly"},
          {NULL, NULL, NULL}},
         {"I went into town on the bus with my volunteer.", "The trolley is a godsend.",
          "It rained so we didn't go."}},
};
const size_t demo_n_goals = ELEMENTSOF(demo_goals);

LIST(demo_plan_summaries,
     "I want to stay at home and keep doing the things I enjoy, with help when I need it.",
     "I want to feel stronger and less worried about falling.",
     "I want to get my leg better and get out and about again.",
     "I want my family to worry less about me and to see people more.",
     "I want to keep my independence for as long as I can.",
     "I want help to get my money sorted and the house warm.");
LIST(demo_contingency_summaries,
     "Trigger: not answering the phone for a day. Ring {c} first, then the social worker.",
     "Trigger: {p} sounds confused or more breathless than usual. Ring 111 or the district "
     "nursing team; tell {c}.",
     "Trigger: {c} is unwell and can't visit. Ring the coordinator to arrange extra calls.",
     "Trigger: a fall. Pendant alarm first; if no injury, the falls response team; tell {c}.");
LIST(demo_review_summaries,
     "Reviewed with {p}. Goals still right; the walking goal is going well. Continue.",
     "Six-week review with {p} and {c}. Changed the evening goal; added a befriender.",
     "Reviewed at home. {p} wants to focus on getting out more; actions updated.",
     "Review with {p}: leg healing, dressings down to once a week. Continue.",
     "Reviewed with {p} and {c}. Money worries sorted; that goal is achieved.");
LIST(demo_phone_notes, "Phoned {p} to check how the week went. No concerns; next visit confirmed.",
     "{c} rang to say {p} has a cold; visit moved to next week at their request.",
     "Phoned {p} about the Attendance Allowance form; they have posted it.",
     "Returned a call from {p}; they wanted to know the time of the next visit.",
     "Pharmacy rang: blister pack ready for collection; {c} will pick it up.");
LIST(demo_safeguarding_notes,
     "{p} mentioned a man calling at the door offering to fix the roof for cash. Advised not to "
     "open the door; raised with the coordinator and social work.",
     "{p} said a relative has been taking money from their purse. Concern raised with the "
     "coordinator for social work review today.");
LIST(demo_handover_notes,
     "Handing back Friday's visit: I'm on leave. {p} knows someone else will come.",
     "Please can someone else pick up next week's visit; I'm on a course.");

/* ---- alerts ---- */

LIST(demo_alert_animal, "Cat (Bramble): keep the front door shut so she doesn't get out.",
     "Large dog, friendly but jumps up; {p} will shut it in the kitchen if asked.",
     "Two dogs in the house; ask for them to be put in the garden before going in.");
LIST(demo_alert_access, "Key safe by the back door; code held by {c}.",
     "Door is hard to open from outside; ring first and {p} will unlock it.",
     "Key safe on the porch wall; ring the coordinator for the code.");
LIST(demo_alert_lone_worker,
     "Lone-worker risk: visit in pairs after 4 pm (aggressive visitor at the address).",
     "Lone-worker risk: poor phone signal in the flat; check in with base before and after.");
LIST(demo_alert_infection, "Infection control: MRSA positive; apron and gloves for wound care.",
     "Infection control: C. difficile; aprons, gloves, soap and water (not gel).");
LIST(demo_alert_communication, "Profoundly deaf: uses BSL; book an interpreter for reviews.",
     "Memory problems: leave a written note of the visit on the kitchen table.",
     "Speaks little English: use the telephone interpreting service.");

/* ---- visits and notes, by role ---- */

#define L(...)                                                                               \
    {                                                                                        \
        (const char *const[]){__VA_ARGS__}, ELEMENTSOF(((const char *const[]){__VA_ARGS__})) \
    }

const struct demo_role_text demo_role_texts[] = {
        {"nurse",
         L("Leg ulcer dressing", "Wound review", "Medication review", "Diabetes check",
           "Catheter care", "Blood pressure check"),
         L("Dressing changed; wound healing.", "Observations stable.",
           "Medication taken as prescribed.", "Wound slightly bigger; GP informed.",
           "Readings in range; no changes."),
         L("Dressing changed on the left leg. Wound looks cleaner, less exudate. {p} in good "
           "spirits and asked about the allotment club.",
           "Observations taken, all within {p}'s usual range. Skin on heels intact. Reminded to "
           "keep legs up in the afternoon.",
           "Went through the blister pack with {p}; no missed doses this week. {c} was there and "
           "has the pharmacy number.",
           "Wound measured; slightly larger than last week and more sore. Swab taken, GP asked to "
           "review. {p} understands and is happy with the plan.",
           "Blood sugar diary reviewed with {p}: readings steadier. Talked about snacks before "
           "the walk to the shop.",
           "{p} a little breathless today but says it's the cold. Oxygen levels fine. Will check "
           "again on Thursday.")},
        {"occupational_therapist",
         L("Home assessment", "Equipment review", "Kitchen practice", "Bathing assessment"),
         L("Equipment ordered.", "Equipment fitted and in use.", "Practised kettle safely.",
           "Assessment complete; report to follow."),
         L("Home assessment with {p} and {c}. Ordered a second stair rail and a perching stool "
           "for the kitchen.",
           "Perching stool delivered and set at the right height. {p} made a cup of tea safely "
           "using the kettle tipper.",
           "Bathroom assessed; shower seat and two grab rails ordered. {p} to use the strip wash "
           "routine until fitted.",
           "Reviewed the pendant alarm with {p}; wearing it. Rug in the hall removed with their "
           "agreement.")},
        {"physiotherapist",
         L("Strength and balance", "Mobility review", "Walking aid review", "Breathing exercises"),
         L("Exercises progressed.", "Timed walk improved.", "New walking aid issued.",
           "Exercises reviewed; no change."),
         L("Strength and balance session. {p} managed the sit-to-stand exercise ten times; "
           "progressed to the next level.",
           "Walked to the garden gate and back with the frame; steadier than last week. Timed "
           "up-and-go recorded.",
           "Swapped the frame for a trolley so {p} can carry a drink. Practised in the kitchen.",
           "Breathing exercises reviewed; {p} doing them most days. Stairs managed with one "
           "rest.")},
        {"social_worker",
         L("Care Act review", "Carer's assessment", "Care package review", "Safeguarding visit"),
         L("Care package continues.", "Carer's assessment completed.", "Package increased.",
           "No concerns found."),
         L("Review of the care package with {p} and {c}. Morning calls working well; {p} wants "
           "to keep them at 8 am.",
           "Carer's assessment with {c}. They are tired; looked at a sitting service on "
           "Wednesdays and a carers' group.",
           "Visited after the concern raised last week. {p} seen alone; no concerns found. "
           "Agreed a plan for the door-to-door callers.",
           "Talked with {p} about moving to extra care housing; they want to stay at home. Plan "
           "updated to reflect that.")},
        {"link_worker",
         L("Link worker check-in", "Wellbeing conversation", "Benefits check",
           "Community connection"),
         L("Referred to luncheon club.", "Benefits form sent.", "Wellbeing score taken.",
           "Introduced to the befriending service."),
         L("Wellbeing conversation with {p}. Evenings are the hardest; talked about the luncheon "
           "club and a befriender.",
           "Helped {p} fill in the Attendance Allowance form; posted it together.",
           "{p} went to the luncheon club on Tuesday and enjoyed it. Wants to try the choir next.",
           "Set up video calls on the tablet so {p} can see the grandchildren. Left written "
           "steps on the fridge.")},
        {"volunteer", L("Befriending visit", "Walk and talk", "Trip to the community centre"),
         L("Good visit.", "Walked to the end of the road.", "Went to the luncheon club together."),
         L("Had a cup of tea and a chat with {p} about the cricket. They seemed cheerful.",
           "Walked to the end of the road and back with {p}. They want to try the post office "
           "next week.",
           "Went with {p} to the luncheon club. They knew two people there already.",
           "Played cards with {p}. They said the evenings are still long.")},
        {"personal_assistant", L("Morning support", "Shopping and housework", "Personal care"),
         L("Morning routine done.", "Shopping done.", "All well."),
         L("Helped {p} with a shower and breakfast. All well.",
           "Did the weekly shop with {p}; they chose everything themselves.",
           "Cleaned the kitchen and changed the bed. {p} tired today.")},
};
const size_t demo_n_role_texts = ELEMENTSOF(demo_role_texts);

const char *const demo_missed_reasons[] = {"no-answer", "declined", "in-hospital",
                                           "access-problem"};
const struct demo_list demo_missed_notes[] = {
        L("No answer at the door or on the phone. Rang {c}, who will check on {p} today.",
          "No answer. Left a card. Rang later: {p} had been asleep and did not hear the door."),
        L("{p} did not want the visit today; feeling tired. Rebooked for later in the week.",
          "{p} declined the visit; has family staying. Rebooked."),
        L("{c} rang: {p} admitted to Northbrook General last night. Visits paused."),
        L("Could not get in: key safe code changed. Rang {c} for the new code."),
};
const size_t demo_n_missed_reasons = ELEMENTSOF(demo_missed_reasons);
LIST(demo_cancelled_notes, "Visit cancelled: worker off sick; {p} told by phone.",
     "Visit cancelled at {p}'s request: hospital appointment the same morning.");
