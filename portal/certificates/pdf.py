"""A certificate as an A4 PDF: pure, the certificate and its verification URL in, bytes out.

Chinese is set in Noto Sans SC (SIL Open Font License 1.1), which comes from the PyPI package
``pylopdf-fonts-zh-cn`` pinned in pyproject.toml, so it is there wherever ``make run`` installs
the project — no system font is needed. fpdf2 embeds the subset of glyphs the page uses, with a
ToUnicode map, so the text stays searchable and extractable (``pdftotext``).
"""

from __future__ import annotations

import io
from decimal import Decimal
from functools import cache
from pathlib import Path

import segno
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos
from fpdf.fonts import FontFace

from portal.models import Certificate

FONT_FAMILY = "NotoSansSC"
MARGIN = 18  # mm
ACCENT = (176, 30, 35)  # the campaign's red, as on the web pages
MUTED = (90, 90, 90)


@cache
def font_path() -> Path:
    """The Noto Sans SC file shipped by the pinned font package."""
    import pylopdf_fonts_zh_cn

    return Path(pylopdf_fonts_zh_cn.sans_path())


def hours_text(value: Decimal | float | int) -> str:
    """Hours with one decimal, as recorded in 0.5-hour steps: 12.5, 4.0."""
    return f"{Decimal(str(value)):.1f}"


class _CertificatePDF(FPDF):
    """A4 pages whose footer names the certificate and the page, so pages cannot be swapped."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT_FAMILY, size=8)
        self.set_text_color(*MUTED)
        self.cell(
            0,
            5,
            _(
                "%(number)s · 第 %(page)d / %(pages)s 页",
                number=self.footer_text,
                page=self.page_no(),
                pages="{nb}",
            ),
            align="C",
        )


def certificate_pdf(
    cert: Certificate, name: str, verify_url: str, issued_on: str, period_text: str
) -> bytes:
    """Render the certificate for ``name``.

    :param verify_url: the public verification page, printed as text and as a QR code.
    :param issued_on: the issue date as the reader should see it (2026年12月1日).
    :param period_text: the certified period as text (2026年1月1日 至 2026年12月1日).
    """
    pdf = _CertificatePDF(orientation="portrait", unit="mm", format="A4")
    pdf.footer_text = cert.number
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=MARGIN)
    pdf.set_creation_date(cert.issued_at)
    pdf.set_title(f"{_('志愿服务证明')} {cert.number}")
    pdf.set_author(cert.issuer)
    pdf.set_lang("zh-CN")
    pdf.add_font(FONT_FAMILY, fname=str(font_path()))
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(FONT_FAMILY, size=9)
    pdf.set_text_color(*MUTED)
    pdf.cell(
        width,
        5,
        _("证明编号：%(number)s", number=cert.number),
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )

    pdf.ln(6)
    pdf.set_font(FONT_FAMILY, size=24)
    pdf.set_text_color(*ACCENT)
    pdf.cell(width, 12, _("志愿服务证明"), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)

    if not cert.is_valid:
        pdf.set_font(FONT_FAMILY, size=12)
        pdf.set_text_color(*ACCENT)
        pdf.set_draw_color(*ACCENT)
        pdf.multi_cell(
            width,
            8,
            _("本证明已撤销，不再有效。"),
            border=1,
            align="C",
            wrapmode=WrapMode.CHAR,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.ln(4)

    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT_FAMILY, size=12)
    statement = _(
        "兹证明 %(name)s 于 %(period)s 期间参加志愿服务 %(count)d 次，"
        "经活动组织单位确认的服务时长共计 %(hours)s 小时。具体记录如下：",
        name=name,
        period=period_text,
        count=cert.record_count,
        hours=hours_text(cert.total_hours),
    )
    pdf.multi_cell(
        width, 8, statement, align="L", wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(4)

    _records_table(pdf, cert)

    pdf.ln(6)
    pdf.set_font(FONT_FAMILY, size=12)
    pdf.cell(
        width,
        8,
        _("出具单位：%(issuer)s", issuer=cert.issuer),
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.cell(
        width,
        8,
        _("出具日期：%(day)s", day=issued_on),
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(6)

    _verification(pdf, cert, verify_url)

    pdf.ln(4)
    pdf.set_font(FONT_FAMILY, size=8)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(
        width,
        4.5,
        _(
            "本证明依据《志愿服务记录与证明出具办法（试行）》免费出具，只列出志愿服务活动中经组织单位"
            "确认的服务时长；社区活动和未确认的时长不计入。"
        ),
        align="L",
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    return bytes(pdf.output())


def _records_table(pdf: FPDF, cert: Certificate) -> None:
    pdf.set_font(FONT_FAMILY, size=8.5)
    heading = FontFace(emphasis="", fill_color=(238, 238, 238))
    columns = (
        _("日期"),
        _("活动名称"),
        _("地点"),
        _("服务内容"),
        _("时长（小时）"),
        _("组织单位"),
        _("负责人"),
    )
    with pdf.table(
        col_widths=(19, 33, 28, 28, 21, 27, 18),
        width=pdf.epw,
        headings_style=heading,
        line_height=5,
        text_align=("LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "LEFT", "LEFT"),
        wrapmode=WrapMode.CHAR,
        padding=1.2,
    ) as table:
        row = table.row()
        for title in columns:
            row.cell(title)
        for item in cert.records:
            row = table.row()
            row.cell(str(item.get("date", "")))
            row.cell(str(item.get("activity", "")))
            row.cell(str(item.get("place", "")))
            row.cell(str(item.get("content", "")))
            row.cell(hours_text(item.get("hours", 0)))
            row.cell(str(item.get("unit", "")))
            row.cell(str(item.get("in_charge", "")))
        row = table.row()
        row.cell(_("合计"), colspan=4, align="RIGHT")
        row.cell(hours_text(cert.total_hours))
        row.cell(_("共 %(n)d 条记录", n=cert.record_count), colspan=2)


def _verification(pdf: FPDF, cert: Certificate, verify_url: str) -> None:
    from portal.certificates.services import grouped

    size = 32  # mm
    if pdf.will_page_break(size + 2):
        pdf.add_page()
    top = pdf.get_y()
    png = io.BytesIO()
    segno.make(verify_url, error="m").save(png, kind="png", scale=8, border=2)
    png.seek(0)
    pdf.image(png, x=pdf.l_margin, y=top, w=size, h=size)

    left = pdf.l_margin + size + 5
    text_width = pdf.epw - size - 5
    pdf.set_xy(left, top + 2)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT_FAMILY, size=10)
    pdf.multi_cell(
        text_width,
        6,
        _("核验方式：扫描二维码，或在浏览器中打开下面的网址。"),
        align="L",
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    pdf.set_x(left)
    pdf.multi_cell(text_width, 6, _("核验网址："), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_x(left)
    pdf.multi_cell(
        text_width,
        6,
        verify_url,
        align="L",
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    pdf.set_x(left)
    pdf.multi_cell(
        text_width,
        6,
        _("核验码：%(code)s", code=grouped(cert.code)),
        align="L",
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + size) + 2)
