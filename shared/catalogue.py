"""Theme catalogue and the other user-facing texts of the brochure on inspiration talks.

Danish ("da") is the primary language, English ("en") the secondary one."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, Field

__all__ = [
    "INTRO",
    "LANGUAGES",
    "NOT_NEGOTIATION",
    "ORGANISATION_NAME",
    "SETTINGS",
    "THEMES",
    "THEME_IDS",
    "Theme",
    "get_theme",
]

LANGUAGES: Final[tuple[str, ...]] = ("da", "en")


def _is_english(lang: str) -> bool:
    """True for ``"en"`` (also ``"EN"``, ``"en-GB"``); every other value means Danish."""
    return lang.strip().lower().replace("_", "-").split("-", 1)[0] == "en"


class Theme(BaseModel, frozen=True):
    """One theme of the catalogue; a workplace chooses exactly one theme per talk."""

    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    number: int = Field(ge=1, le=6)
    title_da: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    description_da: str = Field(min_length=1)
    description_en: str = Field(min_length=1)
    summary_da: str = Field(min_length=1)
    summary_en: str = Field(min_length=1)

    def title(self, lang: str) -> str:
        """The title in ``lang`` ("da" or "en"; anything else gives Danish)."""
        return self.title_en if _is_english(lang) else self.title_da

    def description(self, lang: str) -> str:
        """The full description in ``lang``; paragraphs are separated by a blank line."""
        return self.description_en if _is_english(lang) else self.description_da

    def summary(self, lang: str) -> str:
        """One or two sentences for compact listings, in ``lang``."""
        return self.summary_en if _is_english(lang) else self.summary_da


THEMES: Final[tuple[Theme, ...]] = (
    Theme(
        id="smidighed",
        number=1,
        title_da="Smidighed på arbejdspladsen",
        title_en="Agility in the workplace",
        description_da=(
            "Smidighed handler grundlæggende om at kunne arbejde fleksibelt og harmonisk i forandringer. "
            "Derfor kan smidighed ses som et ideal på arbejdspladser, hvor forandring er et hverdagsvilkår "
            "og ikke en undtagelsestilstand. Men smidigheden har en pris. Og den pris hedder kontrol, "
            "stabil struktur og overblik. Til gengæld får man en arbejdsplads, hvor selvledelse og "
            "uformel, tillidsbaseret kommunikation og feedback i hverdagen er det, der skaber og "
            "vedligeholder smidigheden.\n\n"
            "Det lyder forjættende; og for arbejdsmiljøet rejser der sig både store muligheder for "
            "faglighed, trivsel og arbejdsglæde, men også dilemmaer omkring magt, retfærdighed og tryghed. "
            "Det – og hvilke faldgruber man skal passe på – vil der blive sat fokus på med "
            "inspirationsoplægget ‘smidighed på arbejdspladsen’."
        ),
        description_en=(
            "Agility is fundamentally about being able to work flexibly and harmoniously through change. "
            "Agility can therefore be seen as an ideal in workplaces where change is an everyday condition "
            "rather than a state of exception. But agility comes at a price, and that price is control, "
            "stable structure and overview. In return, you get a workplace where self-management and "
            "informal, trust-based communication and feedback in everyday work are what create and sustain "
            "agility.\n\n"
            "It sounds promising; and for the work environment it opens up great opportunities for "
            "professionalism, well-being and job satisfaction, but also dilemmas of power, fairness and "
            "security. That – and which pitfalls to watch out for – is the focus of the inspiration talk "
            "‘Agility in the workplace’."
        ),
        summary_da=(
            "Smidighed handler om at kunne arbejde fleksibelt og harmonisk i forandringer. Oplægget ser på "
            "mulighederne for faglighed og trivsel, men også på dilemmaerne om magt, retfærdighed og "
            "tryghed, og på faldgruberne."
        ),
        summary_en=(
            "Agility is about being able to work flexibly and harmoniously through change. The talk looks at "
            "the opportunities for professionalism and well-being, but also at the dilemmas of power, "
            "fairness and security, and at the pitfalls."
        ),
    ),
    Theme(
        id="kommunikation-og-kultur",
        number=2,
        title_da="Hvordan forbedrer vi kommunikationen og kulturen på arbejdspladsen?",
        title_en="How do we improve communication and culture in the workplace?",
        description_da=(
            "Mange kan nok nikke genkendende til situationer, hvor der ikke bliver vekslet et ord mellem "
            "to kolleger ved kaffemaskinen, eller når bølgerne går højt på personalemødet. Netop i en "
            "personalegruppe påvirker man hinanden meget – både på godt og ondt. Vi opbygger en fælles "
            "måde at kommunikere og være sammen på, som bl.a. kommer til udtryk i omgangstonen. "
            "Omgangstonen kan være både god og dårlig, men en dårlig omgangstone har konsekvenser.\n\n"
            "”Her har vi en hård, men hjertelig tone”, eller ”omgangstonen hos os er uformel, og vi har en "
            "grov sort humor” – kan være udtalelser, man hører, når der spørges ind til omgangstonen.\n\n"
            "Omgangstonen handler om, hvordan vi kommunikerer med hinanden på arbejdspladsen, dvs. både "
            "kommunikationen medarbejdere imellem, men også din kommunikation over for din kollega.\n\n"
            "Den måde, I taler til og om hinanden på arbejdspladsen, handler også om tillid og respekt og "
            "fortæller dermed noget om, hvordan I ser på hinandens arbejde og status. Generelt vidner en "
            "god omgangstone om, at der er et godt samarbejdsklima på arbejdspladsen, og at I respekterer "
            "hinanden. En god tone smitter, men det gør en dårlig tone også. Omgivelserne mærker hurtigt, "
            "hvis tonen er dårlig. Så en god omgangstone har betydning for kvaliteten, men også den måde "
            "borgerne og pårørende oplever stemningen på.\n\n"
            "Oplægget sætter fokus på omgangstonen på jeres arbejdsplads, og hvad I kan gøre for at "
            "forbedre jeres kommunikation og kultur på arbejdspladsen."
        ),
        description_en=(
            "Many will recognise situations where two colleagues do not exchange a word at the coffee "
            "machine, or where tempers run high at the staff meeting. In a staff group in particular, people "
            "affect each other a great deal – for better and for worse. We build a shared way of "
            "communicating and being together, which shows, among other things, in the tone between us. The "
            "tone can be good or bad, but a bad tone has consequences.\n\n"
            "“We have a rough but hearty tone here”, or “the tone here is informal, and we have a coarse, "
            "dark sense of humour” – are things you may hear when you ask about the tone.\n\n"
            "The tone is about how we communicate with one another at the workplace, that is, both the "
            "communication between employees and your own communication towards your colleague.\n\n"
            "The way you speak to and about each other at the workplace is also about trust and respect, "
            "and so says something about how you regard each other's work and status. In general, a good "
            "tone shows that there is a good climate of cooperation at the workplace and that you respect "
            "each other. A good tone is contagious, but so is a bad one. Those around you quickly notice if "
            "the tone is bad. So a good tone matters for the quality of the work, and also for how citizens "
            "and relatives experience the atmosphere.\n\n"
            "The talk focuses on the tone at your workplace and on what you can do to improve your "
            "communication and culture at the workplace."
        ),
        summary_da=(
            "Om omgangstonen på arbejdspladsen: hvordan I taler til og om hinanden, og hvad I kan gøre for "
            "at forbedre kommunikationen og kulturen."
        ),
        summary_en=(
            "About the tone at the workplace: how you speak to and about each other, and what you can do to "
            "improve communication and culture."
        ),
    ),
    Theme(
        id="selvledelse",
        number=3,
        title_da="Selvledelse – hvem har ansvaret, og hvor går grænsen?",
        title_en="Self-management – who is responsible, and where is the limit?",
        description_da=(
            "Selvledelse skal designes, så det ikke bliver en katalysator for psykisk mistrivsel, men "
            "snarere en praksis, der gavner medarbejderen, lederen og organisationen.\n\n"
            "I dag søger arbejdspladser efter medarbejdere, der er fleksible, omstillingsparate og ikke "
            "mindst robuste. Der søges efter det ’hele’ menneske, der på én gang kan bringe sin faglighed "
            "i spil og samtidig evner relationsopbygningens kunst. Der forventes en hel del af den moderne "
            "medarbejder.\n\n"
            "Til gengæld får medarbejderen frihed i arbejdet og mulighed for at definere sine opgaver. Få "
            "er i dag uenige om, at frihed til selvledelse er godt, fordi det skaber motivation, "
            "effektivitet og glæde blandt medarbejderne. Men samfundet viser også en forøgelse af antallet "
            "af stresssygemeldinger, hvilket indikerer skyggesiden af selvledelse, som vi kender det i "
            "dag.\n\n"
            "Inspirationsoplægget zoomer ind på, hvordan selvledelse kan designes, så det ikke bliver en "
            "katalysator for psykisk mistrivsel, men snarere en praksis, der gavner medarbejderen, lederen "
            "og arbejdspladsens kvalitet."
        ),
        description_en=(
            "Self-management must be designed so that it does not become a catalyst for poor mental "
            "well-being, but rather a practice that benefits the employee, the manager and the "
            "organisation.\n\n"
            "Today, workplaces look for employees who are flexible, adaptable and, not least, resilient. "
            "They look for the ‘whole’ person, who can bring their professional skills into play and at the "
            "same time master the art of building relationships. A great deal is expected of the modern "
            "employee.\n\n"
            "In return, the employee gains freedom in their work and the opportunity to define their own "
            "tasks. Few today disagree that the freedom to manage oneself is good, because it creates "
            "motivation, efficiency and enjoyment among employees. But society also shows a rising number "
            "of sick leaves due to stress, which points to the dark side of self-management as we know it "
            "today.\n\n"
            "The inspiration talk zooms in on how self-management can be designed so that it does not "
            "become a catalyst for poor mental well-being, but rather a practice that benefits the "
            "employee, the manager and the quality of the workplace."
        ),
        summary_da=(
            "Selvledelse giver frihed og motivation, men har også en skyggeside med stress. Oplægget ser på, "
            "hvordan selvledelse kan designes, så den gavner medarbejderen, lederen og arbejdspladsen."
        ),
        summary_en=(
            "Self-management brings freedom and motivation, but it also has a dark side of stress. The talk "
            "looks at how self-management can be designed to benefit the employee, the manager and the "
            "workplace."
        ),
    ),
    Theme(
        id="alene-arbejde",
        number=4,
        title_da="Alene-arbejde og psykisk arbejdsmiljø",
        title_en="Working alone and the psychological work environment",
        description_da=(
            "At arbejde alene indebærer stor frihed, mange fordele og nogle særlige udfordringer. Mange "
            "faggrupper arbejder alene. Det kan du blandt andet gøre som mentor, familieplejekonsulent, "
            "mesteringsvejleder eller bostøttemedarbejder, hvor du ofte er overladt til dig selv med en "
            "borger.\n\n"
            "Når du ikke har kolleger i din arbejdshverdag eller bruger en stor del af arbejdstiden alene, "
            "kan det kræve en særlig indsats at skabe og vedligeholde et godt psykisk arbejdsmiljø. At "
            "arbejde alene uden det kollegiale fællesskab giver en række særlige fordele og udfordringer i "
            "hverdagen. En af kerneudfordringerne i forhold til alene-arbejde er ofte, at det ikke er en "
            "gruppe, men enkelte medlemmer, der oplever udfordringerne. Hvis man arbejder alene, er "
            "muligheden for kontakt til kolleger og ledelse ofte minimal, og det er belastende i sig selv "
            "at være uden samarbejdsrelationer. De belastninger, man kan have i arbejdet, forstærkes, når "
            "man udover at arbejde alene også har et psykisk arbejdsmiljø, der er præget af et højt "
            "arbejdstempo, mange krav, manglende hjælp, støtte og feedback.\n\n"
            "Med inspirationsoplægget vil fokus være på, hvordan man kan skabe bedre trivsel i "
            "alene-arbejdet, og hvad der kan true trivslen i alene-arbejdet."
        ),
        description_en=(
            "Working alone brings great freedom, many advantages and some particular challenges. Many "
            "professional groups work alone – for example as a mentor, foster care consultant, coping "
            "counsellor or housing support worker, where you are often left on your own with a citizen.\n\n"
            "When you have no colleagues in your working day, or spend much of your working time alone, it "
            "can take a special effort to create and maintain a good psychological work environment. "
            "Working alone, without the community of colleagues, brings a number of particular advantages "
            "and challenges in everyday work. One of the core challenges of working alone is often that it "
            "is not a group but individual members who experience the challenges. If you work alone, the "
            "opportunity for contact with colleagues and management is often minimal, and being without "
            "working relationships is a strain in itself. The strains you may have in your work are "
            "amplified when, besides working alone, you also have a psychological work environment marked "
            "by a high pace of work, many demands, and a lack of help, support and feedback.\n\n"
            "The inspiration talk will focus on how to create better well-being when working alone, and on "
            "what can threaten well-being when working alone."
        ),
        summary_da=(
            "At arbejde alene giver frihed, men også særlige udfordringer for det psykiske arbejdsmiljø. "
            "Oplægget handler om, hvordan man skaber trivsel i alene-arbejdet, og hvad der kan true den."
        ),
        summary_en=(
            "Working alone brings freedom, but also particular challenges for the psychological work "
            "environment. The talk is about how to create well-being when working alone, and what can "
            "threaten it."
        ),
    ),
    Theme(
        id="vaner-og-forandringer",
        number=5,
        title_da="Vanen er din ven – men hvad sker der så under forandringer?",
        title_en="Habit is your friend – but what happens in times of change?",
        description_da=(
            "Hvad sker der, når arbejdslivet accelereres med flere opgaver og færre stunder til "
            "fordybelse? En forskergruppe har undersøgt, hvad det betyder, når mennesker føler sig fattige "
            "på tid og anbefaler, at man sammen skaber kvalitet i arbejdslivet ved at skabe bæredygtige "
            "arbejdsrytmer. Eller med andre ord: gode vaner. Den slags skal man ikke kimse af i en hverdag "
            "og et arbejdsliv, der nok indimellem kan tage pusten fra de fleste, men også kan gøres mindre "
            "belastende, hvis man sammen får skabt sunde, bæredygtige rytmer.\n\n"
            "Henrik Lund, der forsker i tid og grænseløst arbejde, taler om, at de bæredygtige rytmer er "
            "fundamentalt forbundet med opretholdelsen af den menneskelige psyke, da de biologiske, "
            "psykologiske og sociale rytmer er vævet sammen i mennesker, og kan vi ikke opretholde "
            "bæredygtige rytmer i vores psyke, bliver vi syge. Derfor må vi, også i et arbejdsliv, der kan "
            "være krævende og ofte opleves som grænseløst, skabe de bæredygtige rytmer, der giver "
            "stabilitet, forudsigelighed og tid til restitution.\n\n"
            "Mange af de rytmer, arbejdslivet er præget af, kan kaldes brutale rytmer; altså rytmer man "
            "ikke altid har indflydelse på. Det kan være en hasteopgave, der pludselig lander på "
            "skrivebordet, en personalesag, der skal tages stilling til her og nu, en patient, der svæver "
            "mellem liv og død, samkørsel af to sammenlagte afdelinger, det nye it-system, der ikke makker "
            "ret eller krav om at arbejde med nye faglige standarder og opgaver. Den slags kræver stor "
            "fleksibilitet og evne til at kapere hurtig omstilling, og fordi de fleste mennesker oplever "
            "forandringer som krævende rytmebrud, kan vaner, rutiner og ritualer medvirke til at skabe "
            "større stabilitet.\n\n"
            "Med inspirationsoplægget inspireres I omkring bæredygtige arbejdsrytmer, og hvordan I kan "
            "skabe bæredygtige arbejdsrytmer på arbejdspladsen."
        ),
        description_en=(
            "What happens when working life speeds up, with more tasks and fewer moments for immersion? A "
            "group of researchers has studied what it means when people feel short of time, and recommends "
            "creating quality in working life together by building sustainable work rhythms. Or in other "
            "words: good habits. That is nothing to sneeze at in an everyday life and a working life that "
            "may now and then take the breath away from most of us, but that can also be made less "
            "stressful if together you create healthy, sustainable rhythms.\n\n"
            "Henrik Lund, who researches time and boundaryless work, argues that sustainable rhythms are "
            "fundamentally linked to maintaining the human psyche, because biological, psychological and "
            "social rhythms are woven together in human beings, and if we cannot maintain sustainable "
            "rhythms in our psyche, we become ill. That is why, even in a working life that can be "
            "demanding and is often felt to be boundaryless, we must create the sustainable rhythms that "
            "give stability, predictability and time to recover.\n\n"
            "Many of the rhythms that shape working life can be called brutal rhythms: rhythms you do not "
            "always have a say in. It may be an urgent task that suddenly lands on your desk, a personnel "
            "matter that has to be decided here and now, a patient hovering between life and death, the "
            "merging of two combined departments, the new IT system that will not behave, or demands to "
            "work with new professional standards and tasks. Such things call for great flexibility and "
            "the ability to cope with rapid change, and because most people experience change as a "
            "demanding break in rhythm, habits, routines and rituals can help create greater stability.\n\n"
            "The inspiration talk gives you inspiration on sustainable work rhythms and on how you can "
            "create sustainable work rhythms at your workplace."
        ),
        summary_da=(
            "Når arbejdslivet accelererer, og forandringer bryder rytmen, kan vaner, rutiner og ritualer "
            "skabe stabilitet. Oplægget handler om at skabe bæredygtige arbejdsrytmer på arbejdspladsen."
        ),
        summary_en=(
            "When working life speeds up and change breaks the rhythm, habits, routines and rituals can "
            "create stability. The talk is about creating sustainable work rhythms at your workplace."
        ),
    ),
    Theme(
        id="tid-paa-arbejde",
        number=6,
        title_da="Hvordan bruger I tiden på arbejde?",
        title_en="How do you spend your time at work?",
        description_da=(
            "På mange arbejdspladser er det svært at nå dagens arbejdsopgaver inden for arbejdstiden. "
            "Tiden er blevet en knap ressource, og forudsætningerne for at udføre et tilfredsstillende "
            "stykke fagligt arbejde bliver derfor udfordret.\n\n"
            "Inspirationsoplægget giver interessante vinkler og perspektiver på tidsmiljøet på jeres "
            "arbejdsplads, og der inviteres til spørgsmålet: Hvordan bruger I tiden på arbejde?\n\n"
            "Et af formålene med inspirationsoplægget er at igangsætte en fælles dialog om kerneopgaven "
            "samt skabe en fælles opmærksomhed på de forhold, der påvirker jeres arbejde med kerneopgaven. "
            "Inspirationsoplægget skal således hjælpe jer til at sætte fokus på, hvordan I bruger tiden, "
            "samt hjælpe jer til at få en fælles forståelse af prioriteringer i det daglige arbejde, så "
            "der opstår større tilfredshed – og et bedre psykisk arbejdsklima med bl.a. værktøjet kan og "
            "skal. Værktøjet skal understøtte jer i at prioritere jeres arbejde med udgangspunkt i "
            "kerneopgaven, samt hjælpe jer til at bruge tiden rigtigt."
        ),
        description_en=(
            "In many workplaces it is hard to get the day's tasks done within working hours. Time has "
            "become a scarce resource, and so the conditions for doing a satisfactory piece of professional "
            "work are challenged.\n\n"
            "The inspiration talk offers interesting angles and perspectives on the time environment at "
            "your workplace, and invites the question: How do you spend your time at work?\n\n"
            "One of the aims of the inspiration talk is to start a shared dialogue about the core task and "
            "to create a shared awareness of the conditions that affect your work with the core task. The "
            "inspiration talk is thus meant to help you focus on how you spend your time, and to help you "
            "reach a shared understanding of priorities in daily work, so that there is greater "
            "satisfaction – and a better psychological work climate – using, among other things, the “can "
            "and must” tool (kan og skal). The tool is meant to support you in prioritising your work on "
            "the basis of the core task, and to help you spend your time the right way."
        ),
        summary_da=(
            "Tiden er en knap ressource på mange arbejdspladser. Oplægget sætter en fælles dialog i gang om "
            "kerneopgaven, og om hvordan I prioriterer og bruger tiden – bl.a. med værktøjet kan og skal."
        ),
        summary_en=(
            "Time is a scarce resource in many workplaces. The talk starts a shared dialogue about the core "
            "task and about how you prioritise and spend your time – among other things with the “can and "
            "must” tool."
        ),
    ),
)

THEME_IDS: Final[frozenset[str]] = frozenset(theme.id for theme in THEMES)

_THEMES_BY_ID: Final[dict[str, Theme]] = {theme.id: theme for theme in THEMES}


def get_theme(theme_id: str) -> Theme | None:
    """The theme with id ``theme_id``, or ``None`` when there is no such theme."""
    return _THEMES_BY_ID.get(theme_id)


ORGANISATION_NAME: Final[str] = "Socialpædagogerne Østjylland"

INTRO: Final[dict[str, str]] = {
    "da": (
        "Inspirationsoplæggene giver inspiration og værktøjer til at styrke det psykiske arbejdsmiljø. "
        "Hvert inspirationsoplæg åbner med en præsentation af en tematik og lægger derefter op til dialog, "
        "øvelser og aktiv deltagelse fra hele personalegruppen. Inspirationsoplægget varer 1,5 til 2 timer "
        "og finder sted på et personalemøde på arbejdspladsen eller sammen med arbejdsmiljøgruppen."
    ),
    "en": (
        "The inspiration talks give you inspiration and tools to strengthen the psychological work "
        "environment. Each inspiration talk opens with a presentation of a theme and then invites "
        "dialogue, exercises and active participation from the whole staff group. The talk lasts 1.5 to "
        "2 hours and takes place at a staff meeting at the workplace or with the work environment group."
    ),
}

NOT_NEGOTIATION: Final[dict[str, str]] = {
    "da": (
        "Inspirationsoplægget vil ikke berøre løn- og arbejdstidsaftaler, og oplægsholderen vil ikke lave "
        "forhandling, men inspirationsoplægget har blot til formål at inspirere og give arbejdspladsen "
        "værktøjer til at komme videre i arbejdet med det psykiske arbejdsmiljø."
    ),
    "en": (
        "The inspiration talk will not touch on pay and working-time agreements, and the presenter will "
        "not negotiate; the talk only aims to inspire and to give the workplace tools to move forward in "
        "its work on the psychological work environment."
    ),
}

SETTINGS: Final[dict[str, dict[str, str]]] = {
    "staff_meeting": {"da": "Personalemøde", "en": "Staff meeting"},
    "work_environment_group": {
        "da": "Sammen med arbejdsmiljøgruppen",
        "en": "With the work environment group",
    },
}
