"""Destination country of a receiver number, as ISO 3166-1 alpha-3 (usage by country).

The region comes from Google's numbering plan data (`phonenumbers`); the alpha-2 to
alpha-3 step is the small table below rather than `pycountry`, whose 8 MB of ISO
databases and translations would serve 245 lines of lookup. The table was generated from
pycountry for every region phonenumbers knows; a unit test fails when phonenumbers gains
a region it lacks. Pure: no I/O, no clock, no globals that change.
"""

from __future__ import annotations

import phonenumbers

#: The user-assigned ISO code for a number whose country cannot be told (unknown
#: country code, or a non-geographic one such as +800 or +881 satellite phones).
UNKNOWN = "ZZZ"

# "AD" + "AND", ...: alpha-2 then alpha-3, for every region phonenumbers knows. Ascension
# (AC) and Tristan da Cunha (TA) are part of Saint Helena (SHN); Kosovo has no ISO code
# and takes XKX, the user-assigned code the EU and IMF use.
_PAIRS = (
    "ACSHN ADAND AEARE AFAFG AGATG AIAIA ALALB AMARM AOAGO ARARG ASASM ATAUT AUAUS AWABW "
    "AXALA AZAZE BABIH BBBRB BDBGD BEBEL BFBFA BGBGR BHBHR BIBDI BJBEN BLBLM BMBMU BNBRN "
    "BOBOL BQBES BRBRA BSBHS BTBTN BWBWA BYBLR BZBLZ CACAN CCCCK CDCOD CFCAF CGCOG CHCHE "
    "CICIV CKCOK CLCHL CMCMR CNCHN COCOL CRCRI CUCUB CVCPV CWCUW CXCXR CYCYP CZCZE DEDEU "
    "DJDJI DKDNK DMDMA DODOM DZDZA ECECU EEEST EGEGY EHESH ERERI ESESP ETETH FIFIN FJFJI "
    "FKFLK FMFSM FOFRO FRFRA GAGAB GBGBR GDGRD GEGEO GFGUF GGGGY GHGHA GIGIB GLGRL GMGMB "
    "GNGIN GPGLP GQGNQ GRGRC GTGTM GUGUM GWGNB GYGUY HKHKG HNHND HRHRV HTHTI HUHUN IDIDN "
    "IEIRL ILISR IMIMN ININD IOIOT IQIRQ IRIRN ISISL ITITA JEJEY JMJAM JOJOR JPJPN KEKEN "
    "KGKGZ KHKHM KIKIR KMCOM KNKNA KPPRK KRKOR KWKWT KYCYM KZKAZ LALAO LBLBN LCLCA LILIE "
    "LKLKA LRLBR LSLSO LTLTU LULUX LVLVA LYLBY MAMAR MCMCO MDMDA MEMNE MFMAF MGMDG MHMHL "
    "MKMKD MLMLI MMMMR MNMNG MOMAC MPMNP MQMTQ MRMRT MSMSR MTMLT MUMUS MVMDV MWMWI MXMEX "
    "MYMYS MZMOZ NANAM NCNCL NENER NFNFK NGNGA NINIC NLNLD NONOR NPNPL NRNRU NUNIU NZNZL "
    "OMOMN PAPAN PEPER PFPYF PGPNG PHPHL PKPAK PLPOL PMSPM PRPRI PSPSE PTPRT PWPLW PYPRY "
    "QAQAT REREU ROROU RSSRB RURUS RWRWA SASAU SBSLB SCSYC SDSDN SESWE SGSGP SHSHN SISVN "
    "SJSJM SKSVK SLSLE SMSMR SNSEN SOSOM SRSUR SSSSD STSTP SVSLV SXSXM SYSYR SZSWZ TASHN "
    "TCTCA TDTCD TGTGO THTHA TJTJK TKTKL TLTLS TMTKM TNTUN TOTON TRTUR TTTTO TVTUV TWTWN "
    "TZTZA UAUKR UGUGA USUSA UYURY UZUZB VAVAT VCVCT VEVEN VGVGB VIVIR VNVNM VUVUT WFWLF "
    "WSWSM XKXKX YEYEM YTMYT ZAZAF ZMZMB ZWZWE "
)
ALPHA3: dict[str, str] = {pair[:2]: pair[2:] for pair in _PAIRS.split()}


def country_of(receiver: str) -> str:
    """Alpha-3 country of an E.164 number given as digits (a leading + is allowed).

    Where a country code is shared (+1, +7, +44, ...) the number's own pattern decides;
    a number that fits no region's pattern goes to the code's main country (an
    unassigned +1 area code counts as USA), never to UNKNOWN when the code is known.
    """
    try:
        number = phonenumbers.parse("+" + receiver.lstrip("+"))
    except phonenumbers.NumberParseException:
        return UNKNOWN
    region = phonenumbers.region_code_for_number(number)
    if region is None and number.country_code is not None:
        region = phonenumbers.region_code_for_country_code(number.country_code)
    return ALPHA3.get(region or "", UNKNOWN)
