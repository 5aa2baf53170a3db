"""Page forms (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, StringField, TextAreaField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from app.auth.accounts import EMAIL_RE

USERNAME = Regexp(r"^[A-Za-z0-9_.-]+$", message="Use letters, digits, _ . or -")


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(3, 32), USERNAME])
    email = EmailField(
        "Email (optional)",
        validators=[Optional(), Length(max=254), Regexp(EMAIL_RE.pattern, message="Not an email address")],
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(8, 128)])
    confirm = PasswordField(
        "Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ")]
    )


class AccountForm(FlaskForm):
    display_name = StringField("Display name", validators=[DataRequired(), Length(1, 64)])
    is_hidden = BooleanField("Hide me from the public board")


class DeleteForm(FlaskForm):
    confirm = StringField("Type your username to confirm", validators=[DataRequired(), Length(max=64)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token (sign out)."""


class ReasonForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class BanForm(ReasonForm):
    minutes = IntegerField(
        "For how many minutes (empty: until unbanned)", validators=[Optional(), NumberRange(1, 5_256_000)]
    )


class AdjustForm(ReasonForm):
    points = IntegerField(
        "Points (negative to take away)", validators=[InputRequired(), NumberRange(-(10**12), 10**12)]
    )


class ResolveForm(ReasonForm):
    resolution = StringField("Resolution", validators=[AnyOf(["cleared", "confirmed"])])  # the button pressed


class BoardForm(FlaskForm):
    """A board's settings; the registry checks them (the same rules as the admin API)."""

    title = StringField("Title", validators=[DataRequired(), Length(max=100)])
    daily = BooleanField("Daily")
    weekly = BooleanField("Weekly")
    monthly = BooleanField("Monthly")
    timezone = StringField("Timezone (IANA)", default="UTC", validators=[DataRequired(), Length(max=64)])
    catalog = TextAreaField("Action catalog (JSON, as ACTION_CATALOG)", validators=[Length(max=20_000)])

    def kept(self) -> list[str]:
        """The periods ticked."""
        return [name for name in ("daily", "weekly", "monthly") if getattr(self, name).data]


class NewBoardForm(BoardForm):
    slug = StringField("Slug (a-z, 0-9, -; never changes)", validators=[DataRequired(), Length(max=32)])
