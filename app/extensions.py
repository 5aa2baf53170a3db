"""Extensions created once and bound in create_app."""

from typing import TYPE_CHECKING, ClassVar

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# expire_on_commit=False: a request may commit, release its connection, and keep using its objects.
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING), session_options={"expire_on_commit": False})
migrate = Migrate()
if TYPE_CHECKING:  # db.Model is made at run time: a type checker cannot take it as a base class

    class Model(DeclarativeBase):
        """The models' base as the type checker sees it (db.Model is a declarative base)."""

        __table__: ClassVar[Table]

else:
    Model = db.Model
login_manager = LoginManager()
csrf = CSRFProtect()
sock = Sock()
