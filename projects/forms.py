from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.text import slugify

from audits.engine import confine, guard

from .models import (
    ApiToken,
    Membership,
    NotificationEvent,
    NotificationPreference,
    Project,
    Target,
    Team,
    Webhook,
)

URL_SCHEMES = {
    Target.Kind.POSTGRESQL: ("postgresql", "postgres"),
    Target.Kind.MYSQL: ("mysql", "mariadb"),
}


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class ProjectForm(forms.ModelForm):
    # The same options as [tool.plumbline] in a scanned repository.
    scan_exclude = forms.CharField(
        label="Leave out of code scans",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One glob per line (e.g. scripts/old_*). Blank: tests, docs, "
        "virtualenvs, node_modules and vendored folders.",
    )
    scan_disable = forms.CharField(
        label="Checks turned off",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One check id per line (e.g. backup-missing).",
    )
    scan_severity = forms.CharField(
        label="Severity overrides",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line: check-id = severity (e.g. query-n-plus-one = low).",
    )
    scan_lock_timeout = forms.CharField(
        label="Lock timeout the deploy sets",
        required=False,
        max_length=20,
        help_text="When migrations run with a lock timeout set outside their files "
        "(on the role, the database or the runner), e.g. 3s: no migration is asked "
        "to set one.",
    )
    scan_schema_from_migrations = forms.BooleanField(
        label="Judge the schema Django's migrations build",
        required=False,
        help_text="For a project whose only schema is its Django migrations. Off by "
        "default: the migrations alone show proxy models as tables and miss what "
        "abstract bases maintain.",
    )

    class Meta:
        model = Project
        fields = [
            "team",
            "name",
            "slug",
            "description",
            "audit_interval_hours",
            "sla_critical_days",
            "sla_high_days",
            "sla_medium_days",
            "sla_low_days",
            "gate_new_severity",
            "gate_regressions",
            "gate_overdue_critical",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "audit_interval_hours": "Re-audit every (hours)",
            "sla_critical_days": "Critical SLA (days)",
            "sla_high_days": "High SLA (days)",
            "sla_medium_days": "Medium SLA (days)",
            "sla_low_days": "Low SLA (days)",
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = "Left blank, it is made from the name."
        self.fields["team"].queryset = Team.objects.filter(
            memberships__user=user, memberships__role__in=Membership.WRITER_ROLES
        )
        self.fields["team"].empty_label = None
        if self.instance.pk:
            self.fields["team"].disabled = True
        saved = self.instance.scan_config or {}
        self.initial.setdefault("scan_exclude", "\n".join(saved.get("exclude", [])))
        self.initial.setdefault("scan_disable", "\n".join(saved.get("disable", [])))
        self.initial.setdefault(
            "scan_severity",
            "\n".join(f"{k} = {v}" for k, v in saved.get("severity", {}).items()),
        )
        self.initial.setdefault(
            "scan_lock_timeout", saved.get("deploy_lock_timeout", "")
        )
        self.initial.setdefault(
            "scan_schema_from_migrations", bool(saved.get("schema_from_migrations"))
        )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the project a name.")
        return name

    def clean(self):
        data = super().clean()
        team = data.get("team") or (self.instance.team if self.instance.pk else None)
        slug = slugify(data.get("slug") or data.get("name") or "")
        if data.get("name") and not slug:
            self.add_error(
                "slug",
                "The name has no letters or digits to make a slug from; give one.",
            )
            return data
        data["slug"] = slug
        self._clean_scan_settings(data)
        if team and slug:
            clash = Project.objects.filter(team=team, slug=slug).exclude(
                pk=self.instance.pk
            )
            if clash.exists():
                self.add_error(
                    "slug", f"The team already has a project with the slug “{slug}”."
                )
        return data

    def _clean_scan_settings(self, data):
        """Check the scan settings as the engine reads them; keep them on the project."""
        from audits.engine.config import ConfigError, config_from_dict

        lines = {
            name: [v.strip() for v in (data.get(name) or "").splitlines() if v.strip()]
            for name in ("scan_exclude", "scan_disable", "scan_severity")
        }
        settings = {}
        if lines["scan_exclude"]:
            settings["exclude"] = lines["scan_exclude"]
        if lines["scan_disable"]:
            settings["disable"] = lines["scan_disable"]
        severity = {}
        for line in lines["scan_severity"]:
            check, sep, value = line.partition("=")
            if not sep or not check.strip() or not value.strip():
                self.add_error(
                    "scan_severity", f"“{line}”: write it as check-id = severity."
                )
                return
            severity[check.strip()] = value.strip().lower()
        if severity:
            settings["severity"] = severity
        if (data.get("scan_lock_timeout") or "").strip():
            settings["deploy_lock_timeout"] = data["scan_lock_timeout"].strip()
        if data.get("scan_schema_from_migrations"):
            settings["schema_from_migrations"] = True
        try:
            config_from_dict(settings)
        except ConfigError as exc:
            message = str(exc).split(": ", 1)[-1]
            field = "scan_severity" if "severity" in message else "scan_disable"
            if "exclude" in message:
                field = "scan_exclude"
            if "lock-timeout" in message:
                field = "scan_lock_timeout"
            self.add_error(field, message[:1].upper() + message[1:] + ".")
            return
        self.instance.scan_config = settings


class TargetForm(forms.ModelForm):
    password = forms.CharField(
        label="Password or access token",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="A database password, or a git access token (https). Stored "
        "encrypted. Left blank on edit, the stored one is kept.",
    )
    deploy_key = forms.CharField(
        label="Deploy key (git over ssh)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="A read-only private key for ssh:// or user@host:path "
        "repositories. Stored encrypted, never shown again.",
    )

    class Meta:
        model = Target
        fields = ["name", "kind", "location", "ref", "dialect", "enabled"]
        help_texts = {
            "location": "A database URL without its password, a git repository URL "
            "(https://, ssh:// or git://), or a path where this server allows paths.",
            "ref": "Git targets only; blank scans the default branch.",
        }
        widgets = {
            # Wide enough for a database URL or a deep path.
            "location": forms.TextInput(
                attrs={"class": "wide", "spellcheck": "false", "autocomplete": "off"}
            ),
        }

    # What the user types to describe a target; the rest have defaults.
    DESCRIBING = ("name", "kind", "location", "ref", "password", "deploy_key")

    def left_blank(self) -> bool:
        """Return whether nothing describing a target was typed (bound forms)."""
        return not any(
            str(self.data.get(self.add_prefix(name), "")).strip()
            for name in self.DESCRIBING
        )

    def clean_location(self):
        return self.cleaned_data["location"].strip()

    def clean(self):
        data = super().clean()
        kind, location = data.get("kind"), data.get("location")
        if not kind or not location:
            return data
        if kind in URL_SCHEMES:
            data["location"] = self._clean_url(kind, location, data)
        elif kind == Target.Kind.GIT:
            self._clean_git(location, data)
        else:
            self._clean_path(kind, location)
        if kind != Target.Kind.GIT and data.get("ref"):
            self.add_error("ref", "Only git targets have a branch, tag or commit.")
        return data

    def _clean_git(self, location, data):
        from audits.engine.sources import SourceError, git

        ref = (data.get("ref") or "").strip()
        data["ref"] = ref
        if ref and not git.valid_ref(ref):
            self.add_error("ref", "This is not a branch, tag or commit name.")
        try:
            remote = git.parse_remote(location)
        except SourceError as exc:
            self.add_error("location", f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
            return
        key = (data.get("deploy_key") or "").strip()
        if key and remote.kind != "ssh":
            self.add_error(
                "deploy_key",
                "A deploy key is for ssh repositories; use a token for https.",
            )
        if key and "PRIVATE KEY" not in key:
            self.add_error("deploy_key", "This does not look like a private key.")
        if data.get("password") and remote.kind == "http":
            self.add_error(
                "location", "Use https:// so the access token is never sent in clear."
            )
        if remote.is_path:
            roots = confine.real_roots(settings.TARGET_PATH_ROOTS)
            if not roots:
                self.add_error(
                    "location",
                    "This server reads no folders of its own, so repositories by path "
                    "are off. Use the repository's https:// or ssh:// URL.",
                )
            elif not confine.within(location, roots):
                self.add_error(
                    "location", "This path is outside the folders targets may read."
                )
            elif not Path(location).exists():
                self.add_error("location", f"No such repository: {location}")
        else:
            self._check_network(remote.host, remote.port)

    def _clean_url(self, kind, location, data):
        schemes = URL_SCHEMES[kind]
        example = f"{schemes[0]}://user@host:port/database"
        try:
            parts = urlsplit(location)
            port = parts.port
        except ValueError as exc:
            self.add_error("location", f"This URL is malformed ({exc}). Use {example}.")
            return location
        if parts.scheme not in schemes:
            self.add_error(
                "location",
                f"A {Target.Kind(kind).label} URL starts with {schemes[0]}://, e.g. {example}.",
            )
        elif not parts.hostname:
            self.add_error("location", f"The URL names no host. Use {example}.")
        elif not parts.path.strip("/"):
            self.add_error("location", f"The URL names no database. Use {example}.")
        elif port is not None and not 0 < port < 65536:
            self.add_error("location", "The port must be between 1 and 65535.")
        query = parse_qsl(parts.query, keep_blank_values=True)
        engine = "postgresql" if kind == Target.Kind.POSTGRESQL else "mysql"
        try:
            guard.refuse_local_options((k for k, _ in query), engine=engine)
            host_option = next((v for k, v in query if k == "host"), "")
            if host_option.startswith("/") or "/" in unquote(parts.hostname or ""):
                raise guard.TargetRefused(
                    "host= names a socket path on this server, so it is not allowed"
                )
        except guard.TargetRefused as exc:
            self.add_error("location", f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
            return location
        # A password typed into the URL, as user:password@ or ?password=, is
        # moved to encrypted storage, percent-encoding decoded.
        password = unquote(parts.password) if parts.password else ""
        password = next((v for k, v in query if k == "password"), "") or password
        if password and not data.get("password"):
            data["password"] = password
        kept = [(k, v) for k, v in query if k != "password"]
        if parts.password or len(kept) != len(query):
            netloc = parts.username or ""
            netloc = f"{netloc}@{parts.hostname}" if netloc else parts.hostname
            if port:
                netloc += f":{port}"
            location = urlunsplit(parts._replace(netloc=netloc, query=urlencode(kept)))
        if parts.hostname and not self.errors.get("location"):
            self._check_network(
                parts.hostname, port or (5432 if engine == "postgresql" else 3306)
            )
        return location

    def _check_network(self, host, port):
        """Refuse a host the operator's policy forbids, where the user types it.

        The audit checks again on the address it connects to; a name that
        does not resolve here is left for the audit to report.
        """
        from .models import network_policy

        try:
            guard.resolve(host, port, network_policy())
        except guard.TargetRefused as exc:
            self.add_error("location", f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
        except Exception:  # noqa: BLE001 - not resolvable now: the audit says why
            return

    def _clean_path(self, kind, location):
        try:
            self._check_path(kind, location)
        except OSError as exc:
            # A name too long for the file system, a loop of links, a file
            # that cannot be read: said plainly, never a server error.
            reason = exc.strerror or type(exc).__name__
            self.add_error("location", f"This path cannot be used ({reason}).")

    def _check_path(self, kind, location):
        path = Path(location).expanduser()
        roots = confine.real_roots(settings.TARGET_PATH_ROOTS)
        if not roots:
            self.add_error(
                "location",
                "This server reads no folders of its own (its operator has not set "
                "PLUMBLINE_TARGET_PATH_ROOTS). Scan the code in your CI and upload "
                "the result with a project token, or add a git repository target.",
            )
            return
        if not confine.within(path, roots):
            self.add_error(
                "location", "This path is outside the folders targets may read."
            )
            return
        if not path.exists():
            self.add_error("location", f"No such file or folder: {location}")
        elif not (path.is_file() or path.is_dir()) or _is_system_path(path):
            # Devices, pipes and sockets (/dev/zero, /proc/self/mem) never
            # end or cannot be read as a file: refused before anything reads.
            self.add_error(
                "location",
                "This is a special file (a device, pipe, socket or a file of "
                "/proc, /sys or /dev), not a schema, database or code.",
            )
        elif kind == Target.Kind.SQLITE:
            if not path.is_file():
                self.add_error(
                    "location", "A SQLite target is a database file, not a folder."
                )
            else:
                with path.open("rb") as fh:
                    if fh.read(16) != b"SQLite format 3\x00":
                        self.add_error(
                            "location", "This file is not a SQLite database."
                        )
        elif kind == Target.Kind.CODE and not path.is_dir():
            self.add_error("location", "A code target is a folder of Python files.")

    def save(self, commit=True):
        target = super().save(commit=False)
        password = self.cleaned_data.get("deploy_key") or self.cleaned_data.get(
            "password"
        )
        if password:
            target.password = password
        if commit:
            target.save()
        return target


class InviteForm(forms.Form):
    """Invite someone to a team by username or email.

    Nothing is looked up: the same answer comes back whether or not anyone
    by that name or email is registered, and only the recipient can accept.
    """

    recipient = forms.CharField(
        label="Username or email",
        max_length=254,
        help_text="They accept the invitation on their Invitations page, or "
        "through the link you are given.",
    )
    role = forms.ChoiceField(
        choices=Membership.Role.choices, initial=Membership.Role.MEMBER
    )

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        if getattr(team, "role", None) != Membership.Role.OWNER:
            # Only owners make owners.
            self.fields["role"].choices = [
                c for c in Membership.Role.choices if c[0] != Membership.Role.OWNER
            ]

    def clean_recipient(self):
        value = self.cleaned_data["recipient"].strip().lower()
        if not value:
            raise forms.ValidationError("Give a username or an email address.")
        return value


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not slugify(name):
            raise forms.ValidationError("Give the team a name with letters or digits.")
        return name


class ProjectDeleteForm(forms.Form):
    confirm = forms.CharField(label="Type the project's name to confirm")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_confirm(self):
        value = self.cleaned_data["confirm"]
        if value.strip() != self.project.name:
            raise forms.ValidationError(
                f"Type the name exactly as shown, “{self.project.name}”, to delete it."
            )
        return value


# Kernel and device file systems: their files look regular but are not data.
SYSTEM_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def _is_system_path(path: Path) -> bool:
    real = path.resolve()
    return any(real == root or real.is_relative_to(root) for root in SYSTEM_ROOTS)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "scope"]
        labels = {"name": "What it is for"}
        widgets = {"scope": forms.RadioSelect}
        error_messages = {
            "name": {"required": "Name the token after what will use it."}
        }

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Name the token after what will use it.")
        return name


EVENT_CHOICES = NotificationEvent.choices


class NotificationPreferenceForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Tell me about",
    )

    class Meta:
        model = NotificationPreference
        fields = ["email", "events", "projects"]
        widgets = {"projects": forms.CheckboxSelectMultiple}
        labels = {"projects": "Only these projects (none ticked: all of them)"}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["projects"].queryset = (
            Project.objects.for_user(user).select_related("team").order_by("name")
        )
        if self.instance._state.adding:
            self.initial["events"] = [value for value, _ in EVENT_CHOICES]

    def clean(self):
        data = super().clean()
        if data.get("email") and not self.instance.user.email:
            raise forms.ValidationError("Your account has no email address to send to.")
        return data


class WebhookForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Events (none ticked: all of them)",
    )

    class Meta:
        model = Webhook
        fields = ["url", "events"]
        labels = {"url": "Payload URL"}
        field_classes = {"url": forms.CharField}

    def clean_url(self):
        from urllib.parse import urlsplit

        from audits.notifications import RefusedAddress, _connect_address

        url = self.cleaned_data["url"].strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise forms.ValidationError(
                "A webhook URL starts with https:// or http://."
            )
        try:
            _connect_address(
                parts.hostname or "",
                parts.port or (443 if parts.scheme == "https" else 80),
            )
        except RefusedAddress as exc:
            raise forms.ValidationError(f"{exc}.") from exc
        except OSError as exc:
            raise forms.ValidationError(
                f"{parts.hostname} could not be resolved ({exc.strerror or exc})."
            ) from exc
        return url
