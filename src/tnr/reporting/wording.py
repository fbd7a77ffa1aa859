"""Plain-language, translatable wording of the taxonomy for people who report.

The taxonomy files (tnr/taxonomy/data) define each code for documenters, in English. A person
describing what happened to them needs a question in their own language instead ("Has anyone
followed or watched you?") and a short explanation of the name the field gives it. Every code
of the tactic, target-category and location-type vocabularies has an entry here; a test checks
that none is missing, so a code added to the taxonomy cannot silently vanish from the forms.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class TacticWording:
    question: Promise  # what the person ticks, in the first person
    name: Promise  # the taxonomy's name for it
    explanation: Promise  # what the name means, shown in the self-assessment result


TACTICS: dict[str, TacticWording] = {
    "killing": TacticWording(
        _("Someone tried to kill me or someone close to me, or did kill them"),
        _("Killing or attempted killing"),
        _("A killing or an attempt to kill, carried out or ordered by agents of a government "
          "outside its own borders, or by people acting for it."),
    ),
    "abduction_rendition": TacticWording(
        _("Someone took me or another person by force, or tried to, to bring them back to the country of origin"),
        _("Abduction or rendition"),
        _("Taking a person by force or deception and moving them, often back to the country they "
          "fled, without a lawful extradition process."),
    ),
    "assault": TacticWording(
        _("I was beaten or physically attacked"),
        _("Physical assault"),
        _("A physical attack on a person abroad by agents of a government or people acting for it."),
    ),
    "intimidation_surveillance": TacticWording(
        _("I was followed, watched, photographed or threatened in person"),
        _("Physical intimidation and surveillance"),
        _("Being threatened, followed, watched or photographed face to face, or visited at home, "
          "at work or at community events in order to frighten you."),
    ),
    "detention_on_request": TacticWording(
        _("I was arrested or held in the country where I live because my country of origin asked for it"),
        _("Detention at the origin state's request"),
        _("Arrest or detention by the authorities of the country where you are, at the request or "
          "under the influence of the government you left."),
    ),
    "unlawful_deportation": TacticWording(
        _("I was, or am about to be, sent back to my country of origin against my will"),
        _("Unlawful deportation or extradition"),
        _("Being sent back to a country where you face persecution, without a fair hearing or "
          "against international protection rules."),
    ),
    "legal_process_abuse": TacticWording(
        _("I am the subject of an Interpol notice, a foreign arrest warrant or a court case that is used to pursue me"),
        _("Interpol and legal-process abuse"),
        _("Misuse of Interpol notices, extradition requests, lawsuits or criminal charges to have "
          "you arrested, harassed or silenced abroad."),
    ),
    "document_denial": TacticWording(
        _("An embassy or consulate refused me a passport or another document, or took mine away"),
        _("Document and consular denial"),
        _("Refusing, cancelling or withholding passports and other documents, or consular "
          "services, to trap you or force you to go back."),
    ),
    "citizenship_travel_ban": TacticWording(
        _("My citizenship was taken away, or I am banned from travelling or from returning"),
        _("Citizenship revocation and travel bans"),
        _("Stripping citizenship, or banning you or your family from leaving or entering the "
          "country, as punishment or pressure."),
    ),
    "coercion_by_proxy": TacticWording(
        _("My family or friends in my country of origin were threatened, questioned, arrested or punished because of me"),
        _("Coercion by proxy"),
        _("Pressure on you through the people you love: relatives back home are threatened, "
          "interrogated, detained or harmed to make you stop or come back."),
    ),
    "spyware_account_compromise": TacticWording(
        _("My phone, computer or accounts were hacked, or I received suspicious links or attachments"),
        _("Spyware and account compromise"),
        _("Spyware, phishing and break-ins to your devices or online accounts to watch you or "
          "your contacts."),
    ),
    "online_threats_smear": TacticWording(
        _("I was threatened, insulted or lied about online, my private details were published, or someone pretended to be me"),
        _("Online threats, smear, doxxing and impersonation"),
        _("Online threats and harassment, smear campaigns, publishing your private details, or "
          "fake accounts in your name."),
    ),
    "monitoring_infiltration": TacticWording(
        _("People in my community seem to report on me, or my group was infiltrated"),
        _("Monitoring and infiltration"),
        _("Informers or agents who watch diaspora communities, join their groups or chats, and "
          "report on them."),
    ),
    "asset_financial_measures": TacticWording(
        _("My property, bank accounts or business, or those of my family, were frozen, seized or attacked"),
        _("Asset and financial measures"),
        _("Freezing or seizing property and accounts, blocking payments or attacking a business "
          "to punish or pressure you."),
    ),
}

TARGET_CATEGORIES: dict[str, Promise] = {
    "journalist": _("Journalist or media worker"),
    "human_rights_defender": _("Human rights defender"),
    "trade_unionist": _("Trade unionist"),
    "political_opposition": _("Political opposition"),
    "religious_minority": _("Member of a religious minority"),
    "ethnic_minority": _("Member of an ethnic minority"),
    "former_insider": _("Former official, soldier or insider"),
    "academic": _("Academic or researcher"),
    "relative_of_target": _("Relative of someone who is targeted"),
    "lgbti": _("LGBTI person"),
    "student": _("Student"),
    "activist": _("Activist"),
    "other": _("Other"),
}

LOCATION_TYPES: dict[str, Promise] = {
    "residence": _("At home"),
    "public_place": _("In a public place"),
    "consulate_embassy": _("At an embassy or consulate"),
    "airport_border": _("At an airport or a border"),
    "detention_facility": _("In detention"),
    "online": _("Online"),
    "workplace": _("At work"),
    "educational_institution": _("At a school or university"),
    "place_of_worship": _("At a place of worship or community centre"),
    "other": _("Somewhere else"),
    "unknown": _("I don't know"),
}

# The top-level actor groups are enough for a reporter; caseworkers refine them.
ACTOR_GROUPS: dict[str, Promise] = {
    "state": _("Officials or agents of a government (police, intelligence, embassy, courts)"),
    "proxy": _("People acting for a government (hired criminals, pressured relatives, online groups)"),
    "host": _("Authorities of the country where I live"),
    "private": _("A company (platform, bank, airline, spyware maker)"),
    "international": _("An international body (for example Interpol)"),
    "unknown": _("I don't know"),
}

# The directory's needs and kinds of help (tnr.cases.choices), as a reporter reads them.
NEEDS: dict[str, Promise] = {
    "emergency_funds": _("Emergency money"),
    "relocation": _("Moving somewhere safer"),
    "visa": _("A visa or residence permit"),
    "legal": _("Legal help"),
    "psychosocial": _("Someone to talk to (psychological support)"),
    "digital_security": _("Help with phone, computer and account security"),
    "physical_safety": _("Physical safety"),
    "advocacy": _("Public or diplomatic support for my case"),
    "documentation": _("Recording what happened"),
}

MECHANISM_KINDS: dict[str, Promise] = {
    "emergency_grant": _("Emergency grant"),
    "temporary_relocation": _("Temporary relocation"),
    "humanitarian_visa": _("Humanitarian visa"),
    "legal_aid": _("Legal aid"),
    "psychosocial_support": _("Psychosocial support"),
    "digital_security_helpline": _("Digital-security helpline"),
    "nhri": _("National human rights institution"),
    "un_special_procedure": _("United Nations human rights expert"),
    "police_focal_point": _("Police contact point for transnational repression"),
    "state_focal_point": _("Government contact point for transnational repression"),
    "other": _("Other help"),
}
