"""Reading a CSV of people and writing it back with link columns: formats and refusals."""

from __future__ import annotations

import io

import pytest

from bridge.cli.mail_merge import LINK_COLUMNS, BadSheet, Person, Sheet, read_sheet, write_sheet
from bridge.consent import Identity

NOT_UTF8 = 'is not UTF-8 text; save the file as "CSV UTF-8" and try again'
NO_IDENTITY_COLUMN = (
    "line 1 (the header) needs a column named contact_id, external_id, email or phone"
)


def fake_links(identity: Identity) -> list[str]:
    """One made-up URL per link column, naming the person."""
    return [f"https://x.example/{column}/{identity.key}" for column in LINK_COLUMNS]


def test_link_columns_are_named_after_the_purposes() -> None:
    assert LINK_COLUMNS == ("unsubscribe_url", "preferences_url")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_the_one_that_finds_the_identity_column(delimiter: str) -> None:
    data = f"name{delimiter}email\nJane{delimiter}jane@example.com\n".encode()
    sheet = read_sheet(data)
    assert sheet.delimiter == delimiter
    assert sheet.header == ["name", "email"]
    assert sheet.people == [
        Person(2, ["Jane", "jane@example.com"], Identity(email="jane@example.com"))
    ]


def test_a_comma_inside_a_semicolon_header_does_not_fool_the_detection() -> None:
    sheet = read_sheet(b"Last, first;email\nDoe, Jane;jane@example.com\n")
    assert sheet.delimiter == ";"
    assert sheet.people[0].fields == ["Doe, Jane", "jane@example.com"]


def test_identity_columns_match_whatever_their_case_and_spaces() -> None:
    sheet = read_sheet(b"Name, Email \nJane, JANE@example.com\n")
    assert sheet.header == ["Name", " Email "]  # written back exactly as they came
    assert sheet.people[0].identity == Identity(email="jane@example.com")


def test_the_most_exact_identity_of_a_row_is_used_and_the_others_are_left_alone() -> None:
    sheet = read_sheet(
        b"email,phone,contact_id\njane@example.com,087 123 4567,abc\n,+353871234567,\n"
    )
    assert [p.identity for p in sheet.people] == [
        Identity(contact_id="abc"),
        Identity(phone="+353871234567"),
    ]
    assert sheet.people[0].fields[1] == "087 123 4567"  # not used, so not refused


def test_a_byte_order_mark_is_read_past_and_remembered() -> None:
    sheet = read_sheet(b"\xef\xbb\xbfemail\njane@example.com\n")
    assert sheet.header == ["email"] and sheet.bom
    assert not read_sheet(b"email\njane@example.com\n").bom


def test_blank_lines_and_empty_rows_are_skipped_and_short_rows_padded() -> None:
    sheet = read_sheet(
        b"email,name,city\r\n\r\njane@example.com\r\n,,\r\nsam@example.com,Sam,Cork,,\r\n"
    )
    assert [(p.line, p.fields) for p in sheet.people] == [
        (3, ["jane@example.com", "", ""]),
        (5, ["sam@example.com", "Sam", "Cork"]),
    ]


def test_line_numbers_count_from_where_a_row_starts() -> None:
    with pytest.raises(BadSheet) as refused:
        read_sheet(b'name,email\n"Jane\r\nDoe",jane@example.com\n"Sam\nSmith",sam\n')
    assert str(refused.value) == "line 4: email 'sam' has no @"


def test_an_old_mac_file_with_only_carriage_returns_is_read_by_line() -> None:
    with pytest.raises(BadSheet) as refused:
        read_sheet(b"email\rjane@example.com\r\xff\r")
    assert str(refused.value).startswith("line 3 is not UTF-8 text")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf\n\n", "the file is empty"),
        (b"\nemail\njane@example.com\n", "line 1 (the header) is empty"),
        (b"name,city\nJane,Cork\n", NO_IDENTITY_COLUMN),
        (b"email,Email\na@example.com,b@example.com\n", "line 1 has two email columns"),
        (b"name,email\nJane\n", "line 2 has no email"),
        (b"email,name\na@example.com,Al,x\n", "line 2 has 3 fields but the header has 2"),
        (b'email\n"a@example.com"x\n', "line 2: ',' expected after '\"'"),
        (b"email\nJos\xe9@example.com\n", f"line 2 {NOT_UTF8}"),
        (b"\xef\xbb\xbfemail\na@example.com\n\nJos\xe9@example.com\n", f"line 4 {NOT_UTF8}"),
        (b"\xff\xfee\x00m\x00", f"line 1 {NOT_UTF8}"),  # Excel's "Unicode text" is UTF-16
    ],
)  # fmt: skip
def test_refusals_name_the_line_and_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(BadSheet) as refused:
        read_sheet(data)
    assert str(refused.value) == problem


def test_write_keeps_the_delimiter_and_the_byte_order_mark() -> None:
    sheet = Sheet(
        header=["Nom", "Email"],
        people=[Person(2, ["Léa", "lea@example.fr"], Identity(email="lea@example.fr"))],
        delimiter=";",
        bom=True,
    )
    out = io.StringIO()
    write_sheet(sheet, out, fake_links)
    assert out.getvalue() == (
        "\ufeffNom;Email;unsubscribe_url;preferences_url\r\n"
        "Léa;lea@example.fr;https://x.example/unsubscribe_url/email:lea@example.fr;"
        "https://x.example/preferences_url/email:lea@example.fr\r\n"
    )


def test_a_sheet_read_and_written_back_keeps_every_field() -> None:
    data = b'id,email,note\r\n1,a@example.com,"says ""hi"", twice"\r\n'
    out = io.StringIO()
    write_sheet(read_sheet(data), out, fake_links)
    assert out.getvalue().startswith(
        'id,email,note,unsubscribe_url,preferences_url\r\n1,a@example.com,"says ""hi"", twice",'
    )
