-- dlb console schema, part 1: the group roles, the tables and their grants.
-- Applied by the console's bootstrap (as the database owner) inside one transaction and recorded
-- in dlb.schema_migrations; the runner never applies a recorded version twice.
--
-- Roles are cluster-wide in PostgreSQL, so a second dlb database on the same cluster finds them
-- already there: hence the existence checks.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'dlb_viewer') THEN
        CREATE ROLE dlb_viewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'dlb_operator') THEN
        CREATE ROLE dlb_operator NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'dlb_admin') THEN
        CREATE ROLE dlb_admin NOLOGIN;
    END IF;
END
$$;

-- Each group inherits the one below: an operator can do what a viewer can, an admin what an
-- operator can. Grants below are therefore given to the lowest group that needs them.
GRANT dlb_viewer TO dlb_operator;
GRANT dlb_operator TO dlb_admin;

GRANT USAGE ON SCHEMA dlb TO dlb_viewer;
GRANT SELECT ON dlb.schema_migrations TO dlb_viewer;

-- The seed's e-mail rule, in one place for the table check and the functions. The console's
-- dialog uses the same expression (console/db/account_rules.cpp).
CREATE OR REPLACE FUNCTION dlb.email_ok(p_email text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT length(p_email) <= 254
       AND length(split_part(p_email, '@', 1)) <= 64
       AND p_email ~ '^[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$'
$$;

CREATE OR REPLACE FUNCTION dlb.username_ok(p_username text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT p_username ~ '^[a-z0-9_]{3,32}$' $$;

-- One row per console account; the account IS the PostgreSQL login role of the same name, whose
-- SCRAM verifier PostgreSQL keeps in pg_authid (readable by superusers only).
CREATE TABLE IF NOT EXISTS dlb.accounts (
    username   text PRIMARY KEY CHECK (dlb.username_ok(username)),
    email      text NOT NULL CHECK (dlb.email_ok(email)),
    role       text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL DEFAULT session_user,
    disabled   boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS accounts_email_lower_key ON dlb.accounts (lower(email));

-- Agents the console watches. Tokens are the agent's control-API bearer tokens: a viewer may
-- read only the viewer token (column grants), operators and admins the admin token as well.
CREATE TABLE IF NOT EXISTS dlb.agents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    control_url  text NOT NULL CHECK (length(control_url) BETWEEN 1 AND 2048),
    admin_token  text NOT NULL DEFAULT '',
    viewer_token text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Append-only: no group may INSERT, UPDATE or DELETE here directly; rows come from the
-- SECURITY DEFINER functions and the agents trigger, which set "who" from session_user.
CREATE TABLE IF NOT EXISTS dlb.audit_log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    who    text NOT NULL DEFAULT session_user,
    agent  text,
    action text NOT NULL,
    detail text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON dlb.audit_log (at);

REVOKE ALL ON dlb.accounts, dlb.agents, dlb.audit_log FROM PUBLIC;
GRANT SELECT ON dlb.accounts TO dlb_admin;
GRANT SELECT (id, name, control_url, viewer_token, created_at) ON dlb.agents TO dlb_viewer;
GRANT SELECT (admin_token) ON dlb.agents TO dlb_operator;
GRANT INSERT (name, control_url, admin_token, viewer_token),
      UPDATE (name, control_url, admin_token, viewer_token),
      DELETE ON dlb.agents TO dlb_admin;
GRANT SELECT ON dlb.audit_log TO dlb_viewer;
