"""The standard corpora of the lossless-compression literature, fetched from their canonical
archives on first use (or read from a data dir; see harness.corpora).

Member sizes and sha256s of canterbury and calgary were measured on byte-exact copies of
the canonical files. For silesia, enwik8, enwik9 and text8 no sha256 is recorded: they were
not available when this list was written, so those members are checked only by their
published sizes, and none of the archives' own checksums are recorded.
"""

from __future__ import annotations

from harness.corpus import archive_corpus, subset_corpus

CANTERBURY = {
    "alice29.txt": (152089, "7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0"),
    "asyoulik.txt": (125179, "eaa3526fe53859f34ecdf255712f9ecf0b2c903451d4755b2edaa2e2599cb0fc"),
    "cp.html": (24603, "e0cd21cef5b6c4069461e949be100080c3ce887de6f1dd8626c480528efaaf61"),
    "fields.c": (11150, "85d73e354cc50cec76cb5a50537cf8dc035f8cbb8480f9e1cbe2f7d6c23393c7"),
    "grammar.lsp": (3721, "1b0805dfc0ae706b35aac2bb4e15f02485efd24dda5dbd29de7b2f84d1a88c15"),
    "kennedy.xls": (1029744, "9af47239ca29dfe20e633f80bbbb9a4cc9783d0803d7b2b5626f42e4c3790420"),
    "lcet10.txt": (426754, "5314ba1dbb03f471df88bec6cd120a938ef60d0fd3511c5c1dce61bf7463245f"),
    "plrabn12.txt": (481861, "07e2e0b461af78c7c647cb53dab39de560198e16f799b4516eccf0fbd69f764c"),
    "ptt5": (513216, "0ec3a75089bb52342813496b17e51377bc9eba3cb519a444d67025354841d650"),
    "sum": (38240, "ee5733cd76ecc2f9d8ff156adc3c02a7a851051dcf43a2d56ff4ee4ff606bdb3"),
    "xargs.1": (4227, "c58aeb5d2d1e12751d47e7412b45784405fc30a5671b03d480fa05776e183619"),
}

CALGARY = {
    "bib": (111261, "0f1a13936e358191533aca4a32ff42906d1b7f641f3afb0a90458b2410419fcf"),
    "book1": (768771, "9ffa47cd93bccd732f20e0c304203cfbc1b8a91bedac536e2d8f6051003d9951"),
    "book2": (610856, "c8538730cf2ce6a243acf3eb299c43d619b5c695d892f4884df796c13081fdf8"),
    "geo": (102400, "913ff6f45610599020c02f543a0d5a1f46cf772412e25a568b683d23db8c447d"),
    "news": (377109, "7f0482f9774681429eb7021050c17966f6acf19450e170de6611e1ed953d42e8"),
    "obj1": (21504, "8c06109caffd7e794516e4ed10095b0238ea8df63ed66840907cd4dd23e2cf72"),
    "obj2": (246814, "8b3e7f028bfefaebdd48a791060a1ab11d1ffd9bf27e0d63b15e58dda0deb984"),
    "paper1": (53161, "8d9c42d9fa58b5bce1a8b5fae3cc27c9eb7cc7a032bc12a633d44e816497e143"),
    "paper2": (82199, "dc4b9cf68094c632a920f4e76d0a0a8b9617b624c36928ca46a5d29798c5bbbe"),
    "paper3": (46526, "c3e1ba94849992147cf68531311cf6512c9032b88f548d3e2d62cb659aef19d8"),
    "paper4": (13286, "aeecc3ff5b2e497e35fbd2d2190627fff4818dabf7aee9734ac090c21b04739b"),
    "paper5": (11954, "7a4b1ee6aa419ca362a9bbae383287fe8fee4324c9d6aefa7e94b6d845452ee8"),
    "paper6": (38105, "8f38dd101a4e0c0e4acefec93d5da8198db593557e9e0019140e2dff24b1b080"),
    "pic": (513216, "0ec3a75089bb52342813496b17e51377bc9eba3cb519a444d67025354841d650"),
    "progc": (39611, "151377a9d6aa9b7e872000269707a15e2b038c826340628e6f4d8b4db9ec3c19"),
    "progl": (71646, "9388db0cfb71ffbe5687d381819a5ff69cdd992d6931e0cf81a310a1caed0ba0"),
    "progp": (49379, "d0cd70ab5f7381a8584b25fa73b3608571a17ee1042cc5c546f63b904614d1bc"),
    "trans": (93695, "117a00c6af3e1c57f20013a8f1b468158f70634f685a348bedb7e4069cdd576a"),
}

SILESIA = {
    "dickens": (10192446, None),
    "mozilla": (51220480, None),
    "mr": (9970564, None),
    "nci": (33553445, None),
    "ooffice": (6152192, None),
    "osdb": (10085684, None),
    "reymont": (6627202, None),
    "samba": (21606400, None),
    "sao": (7251944, None),
    "webster": (41458703, None),
    "x-ray": (8474240, None),
    "xml": (5345280, None),
}

_CANTERBURY = archive_corpus(
    "canterbury",
    "Canterbury corpus (1997): 11 files, 2.8 MB of English text, code, HTML, a spreadsheet, a fax image",
    "https://corpus.canterbury.ac.nz/resources/cantrbry.tar.gz",
    CANTERBURY,
)
CANTERBURY_TEXT = (
    "alice29.txt",
    "asyoulik.txt",
    "cp.html",
    "fields.c",
    "grammar.lsp",
    "lcet10.txt",
    "plrabn12.txt",
    "xargs.1",
)
CANTERBURY_SMALL = ("cp.html", "fields.c", "grammar.lsp", "sum", "xargs.1")

CORPORA = [
    _CANTERBURY,
    subset_corpus(
        "canterbury-text",
        "the 8 text files of Canterbury, whole (1.2 MB: English, HTML, C, Lisp, a man page)",
        _CANTERBURY,
        CANTERBURY_TEXT,
    ),
    subset_corpus(
        "canterbury-small",
        "the 5 Canterbury files under 40 KB, whole (82 KB: HTML, C, Lisp, a man page, a SPARC executable), "
        "small enough for every predictor on a CPU",
        _CANTERBURY,
        CANTERBURY_SMALL,
    ),
    archive_corpus(
        "calgary",
        "Calgary corpus (1987): 18 files, 3.3 MB of text, code, object files, geophysical data, an image",
        "https://corpus.canterbury.ac.nz/resources/calgary.tar.gz",
        CALGARY,
    ),
    archive_corpus(
        "silesia",
        "Silesia corpus (2003): 12 files, 212 MB of modern text, XML, databases, executables, images",
        "https://sun.aei.polsl.pl/~sdeor/corpus/silesia.zip",
        SILESIA,
    ),
    # mattmahoney.net publishes these over plain http; only the sizes are checked.
    archive_corpus(
        "enwik8",
        "first 10^8 bytes of an English Wikipedia XML dump (Hutter Prize, large text benchmark)",
        "http://mattmahoney.net/dc/enwik8.zip",
        {"enwik8": (100_000_000, None)},
    ),
    archive_corpus(
        "enwik9",
        "first 10^9 bytes of an English Wikipedia XML dump (large text compression benchmark)",
        "http://mattmahoney.net/dc/enwik9.zip",
        {"enwik9": (1_000_000_000, None)},
    ),
    archive_corpus(
        "text8",
        "10^8 bytes of Wikipedia text reduced to lowercase a-z and single spaces",
        "http://mattmahoney.net/dc/text8.zip",
        {"text8": (100_000_000, None)},
    ),
]
