"""A resident's certificates (ask, print, PDF) and the public verification page.

The verification page is public and shows only what a school or employer needs: the masked
name (张*), hours, period, issuer, number, date and whether it is still valid. An unknown
code and a malformed one get the same "not found" answer, so the page gives no hint to anyone
trying codes (and it is rate-limited).
"""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal import exports, permissions
from portal.certificates import services
from portal.certificates.forms import PeriodForm, RevokeForm, VerifyForm
from portal.certificates.services import CertificateError
from portal.extensions import db, limiter
from portal.forms import attach_error
from portal.models import Certificate
from portal.privacy import mask_name
from portal.timeutil import to_local

bp = Blueprint("certificates", __name__)

VERIFY_LIMIT = "30 per minute"


@bp.app_template_filter("day")
def _day_filter(value: date) -> str:
    return services.day_text(value)


@bp.app_template_filter("hours")
def _hours_filter(value) -> str:
    from portal.certificates.pdf import hours_text

    return hours_text(value)


@bp.app_template_filter("grouped_code")
def _grouped_filter(code: str) -> str:
    return services.grouped(code)


def _verify_url(cert: Certificate) -> str:
    return url_for("certificates.verify_code", code=cert.code, _external=True)


def _qr_svg(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=4, border=2, title=_("证明核验二维码"))


def _own_or_404(certificate_id: int) -> Certificate:
    cert = db.session.get(Certificate, certificate_id)
    if cert is None or cert.user_id != current_user.id:
        abort(404)
    return cert


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.route("/me/certificates", methods=["GET", "POST"])
@login_required
def index():
    """The person's certificates and the form to ask for a new one (this year by default)."""
    form = PeriodForm()
    if request.method == "GET":
        period = services.default_period()
        form.start.data, form.end.data = period.start, period.end
    elif form.validate_on_submit():
        try:
            cert = services.issue(current_user, form.start.data, form.end.data)
        except CertificateError as exc:
            db.session.rollback()
            attach_error(form, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "证明已出具，编号 %(number)s，共 %(hours)s 小时。可以打印、下载 PDF，"
                    "或把核验网址发给需要核验的单位。",
                    number=cert.number,
                    hours=_hours_filter(cert.total_hours),
                ),
                "success",
            )
            return redirect(url_for(".show", certificate_id=cert.id))
    return _private(
        make_response(
            render_template(
                "certificates/index.html",
                form=form,
                certificates=services.own_certificates(current_user),
            )
        )
    )


@bp.route("/me/certificates/<int:certificate_id>")
@login_required
def show(certificate_id: int):
    """The printable certificate (A4), with its verification URL as text and as a QR code."""
    cert = _own_or_404(certificate_id)
    url = _verify_url(cert)
    return _private(
        make_response(
            render_template(
                "certificates/show.html",
                cert=cert,
                name=cert.user.real_name,
                verify_url=url,
                qr=_qr_svg(url),
                issued_on=services.day_text(to_local(cert.issued_at).date()),
            )
        )
    )


@bp.route("/me/certificates/<int:certificate_id>.pdf")
@login_required
def pdf(certificate_id: int):
    """The certificate as a PDF with its Chinese font embedded."""
    from portal.certificates.pdf import certificate_pdf

    cert = _own_or_404(certificate_id)
    body = certificate_pdf(
        cert,
        name=cert.user.real_name,
        verify_url=_verify_url(cert),
        issued_on=services.day_text(to_local(cert.issued_at).date()),
        period_text=_(
            "%(start)s 至 %(end)s",
            start=services.day_text(cert.period_start),
            end=services.day_text(cert.period_end),
        ),
    )
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = exports.attachment(f"{cert.number}.pdf")
    return _private(response)


@bp.route("/verify")
@limiter.limit(VERIFY_LIMIT)
def verify():
    """The form to type a code; a typed code goes to its verification page."""
    form = VerifyForm(request.args)
    if "code" in request.args and form.validate():
        code = services.normalise_code(form.code.data)
        if code is None:
            return _not_found()
        return redirect(url_for(".verify_code", code=code))
    if "code" not in request.args:
        form = VerifyForm(formdata=None)
    return _public(make_response(render_template("certificates/verify.html", form=form)))


@bp.route("/verify/<code>")
@limiter.limit(VERIFY_LIMIT)
def verify_code(code: str):
    """What a verifier may see of a certificate: masked name, hours, period, validity."""
    cert = services.by_code(code)
    if cert is None:
        return _not_found()
    return _verification_page(cert, RevokeForm() if permissions.is_admin(current_user) else None)


@bp.route("/certificates/<int:certificate_id>/revoke", methods=["POST"])
@login_required
def revoke(certificate_id: int):
    """Revoke a certificate with a reason (admins only); the verification page then says so."""
    if not permissions.is_admin(current_user):
        abort(403)
    cert = db.get_or_404(Certificate, certificate_id)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            services.revoke(cert, current_user, form.reason.data)
        except CertificateError as exc:
            db.session.rollback()
            attach_error(form, exc)
        else:
            db.session.commit()
            flash(
                _("证明 %(number)s 已撤销，核验页现在显示“已撤销”。", number=cert.number), "success"
            )
            return redirect(url_for(".verify_code", code=cert.code))
    return _verification_page(cert, form)


def _verification_page(cert: Certificate, revoke_form: RevokeForm | None):
    return _public(
        make_response(
            render_template(
                "certificates/verification.html",
                cert=cert,
                masked_name=mask_name(cert.user.real_name),
                issued_on=services.day_text(to_local(cert.issued_at).date()),
                revoked_on=to_local(cert.revoked_at) if cert.revoked_at else None,
                revoke_form=revoke_form,
                verify_form=VerifyForm(formdata=None),
            )
        )
    )


def _not_found():
    response = make_response(
        (render_template("certificates/not_found.html", form=VerifyForm(formdata=None)), 404)
    )
    return _public(response)


def _public(response: Response) -> Response:
    # The code is in the URL: keep it out of other sites' logs and of search engines.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response
