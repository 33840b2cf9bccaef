-- dlb console schema, part 2: the only ways to create and change accounts, and to write the
-- audit log. Each function is SECURITY DEFINER (it runs with the rights of the bootstrap owner,
-- who may CREATE ROLE) and enforces the seed's rules itself, so a client that skips the
-- console's dialog is refused all the same. The password rules (8-32 characters, a capital
-- letter, a symbol) cannot be checked here: the database only ever receives a SCRAM verifier,
-- computed by the console with libpq's PQencryptPasswordConn. The console checks them.
--
-- search_path is pinned so a caller cannot shadow pg_catalog or dlb objects, and every caller
-- input reaches SQL only through format('%I'/'%L') or parameters.

CREATE OR REPLACE FUNCTION dlb.scram_verifier_ok(p_verifier text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    -- SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, all base64. Anything else
    -- would be taken by CREATE ROLE as a plain-text password, which must never happen.
    SELECT p_verifier ~ '^SCRAM-SHA-256\$[1-9][0-9]{0,9}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$'
$$;

CREATE OR REPLACE FUNCTION dlb.audit(p_agent text, p_action text, p_detail text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_action IS NULL OR p_action !~ '^[a-z_]{1,32}(\.[a-z_]{1,32}){0,3}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'audit action must be dotted lower-case words, like replica.add';
    END IF;
    INSERT INTO dlb.audit_log (who, agent, action, detail)
    VALUES (session_user, p_agent, p_action, coalesce(p_detail, ''));
END
$$;

-- The role a dlb account has, from its group membership; NULL for a role that is no account.
CREATE OR REPLACE FUNCTION dlb.current_account(OUT username text, OUT email text, OUT role text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.username, a.email, a.role FROM dlb.accounts a
    WHERE a.username = session_user AND NOT a.disabled
$$;

CREATE OR REPLACE FUNCTION dlb.register_account(p_username text, p_email text, p_verifier text,
                                                p_role text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text[] := '{}';
BEGIN
    -- Every broken rule is collected, so the caller learns all of them in one answer.
    IF p_username IS NULL OR NOT dlb.username_ok(p_username) THEN
        problems := problems || 'username must be 3 to 32 characters from a-z, 0-9 and _'::text;
    ELSIF p_username LIKE 'pg\_%' OR p_username LIKE 'dlb\_%' THEN
        problems := problems || 'usernames starting with pg_ or dlb_ are reserved'::text;
    ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = p_username) THEN
        problems := problems || format('username %s is taken', p_username);
    END IF;
    IF p_email IS NULL OR NOT dlb.email_ok(p_email) THEN
        problems := problems || 'e-mail must be a valid address like name@example.org'::text;
    ELSIF EXISTS (SELECT 1 FROM dlb.accounts WHERE lower(email) = lower(p_email)) THEN
        problems := problems || format('e-mail %s is already registered', p_email);
    END IF;
    IF p_verifier IS NULL OR NOT dlb.scram_verifier_ok(p_verifier) THEN
        problems := problems || 'password must arrive as a SCRAM-SHA-256 verifier (PQencryptPasswordConn), never in plain text'::text;
    END IF;
    IF p_role IS NULL OR p_role NOT IN ('admin', 'operator', 'viewer') THEN
        problems := problems || 'role must be admin, operator or viewer'::text;
    END IF;
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'account refused: ' || array_to_string(problems, '; ');
    END IF;

    EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I',
                   p_username, p_verifier, 'dlb_' || p_role);
    INSERT INTO dlb.accounts (username, email, role) VALUES (p_username, p_email, p_role);
    INSERT INTO dlb.audit_log (who, action, detail)
    VALUES (session_user, 'account.register', format('%s <%s> as %s', p_username, p_email, p_role));
END
$$;

-- The account row of a dlb account, locked for the change; refuses any other role, so these
-- functions can never touch postgres or another application's roles.
CREATE OR REPLACE FUNCTION dlb.account_for_change(p_username text) RETURNS dlb.accounts
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acc dlb.accounts;
BEGIN
    SELECT * INTO acc FROM dlb.accounts WHERE username = p_username FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('%s is not a dlb account', coalesce(p_username, 'NULL'));
    END IF;
    RETURN acc;
END
$$;

-- Demoting or disabling the last enabled admin would lock everyone out of account management.
CREATE OR REPLACE FUNCTION dlb.keep_an_admin(p_username text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dlb.accounts
                   WHERE role = 'admin' AND NOT disabled AND username <> p_username) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s is the last enabled admin; make another admin first', p_username);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION dlb.set_account_role(p_username text, p_role text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acc dlb.accounts := dlb.account_for_change(p_username);
BEGIN
    IF p_role IS NULL OR p_role NOT IN ('admin', 'operator', 'viewer') THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'role must be admin, operator or viewer';
    END IF;
    IF acc.role = p_role THEN
        RETURN;
    END IF;
    IF acc.role = 'admin' AND NOT acc.disabled THEN
        PERFORM dlb.keep_an_admin(p_username);
    END IF;
    EXECUTE format('REVOKE %I FROM %I', 'dlb_' || acc.role, p_username);
    EXECUTE format('GRANT %I TO %I', 'dlb_' || p_role, p_username);
    UPDATE dlb.accounts SET role = p_role WHERE username = p_username;
    INSERT INTO dlb.audit_log (who, action, detail)
    VALUES (session_user, 'account.role', format('%s: %s -> %s', p_username, acc.role, p_role));
END
$$;

CREATE OR REPLACE FUNCTION dlb.set_account_disabled(p_username text, p_disabled boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acc dlb.accounts := dlb.account_for_change(p_username);
BEGIN
    IF p_disabled IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'disabled must be true or false';
    END IF;
    IF acc.disabled = p_disabled THEN
        RETURN;
    END IF;
    IF p_disabled AND p_username = session_user THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'you cannot disable your own account; ask another admin';
    END IF;
    IF p_disabled AND acc.role = 'admin' THEN
        PERFORM dlb.keep_an_admin(p_username);
    END IF;
    -- NOLOGIN refuses new sessions; sessions already open end when the console logs out.
    EXECUTE format('ALTER ROLE %I %s', p_username, CASE WHEN p_disabled THEN 'NOLOGIN' ELSE 'LOGIN' END);
    UPDATE dlb.accounts SET disabled = p_disabled WHERE username = p_username;
    INSERT INTO dlb.audit_log (who, action, detail)
    VALUES (session_user, CASE WHEN p_disabled THEN 'account.disable' ELSE 'account.enable' END,
            p_username);
END
$$;

CREATE OR REPLACE FUNCTION dlb.reset_account_password(p_username text, p_verifier text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acc dlb.accounts := dlb.account_for_change(p_username);
BEGIN
    IF p_verifier IS NULL OR NOT dlb.scram_verifier_ok(p_verifier) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'password must arrive as a SCRAM-SHA-256 verifier (PQencryptPasswordConn), never in plain text';
    END IF;
    EXECUTE format('ALTER ROLE %I PASSWORD %L', acc.username, p_verifier);
    INSERT INTO dlb.audit_log (who, action, detail)
    VALUES (session_user, 'account.password', acc.username);
END
$$;

-- Every change to an agent row is audited, whoever makes it; token values are never logged.
CREATE OR REPLACE FUNCTION dlb.audit_agents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO dlb.audit_log (who, agent, action, detail)
        VALUES (session_user, NEW.name, 'agent.add', NEW.control_url);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO dlb.audit_log (who, agent, action, detail)
        VALUES (session_user, NEW.name, 'agent.change',
                concat_ws(', ',
                    CASE WHEN NEW.name IS DISTINCT FROM OLD.name THEN 'renamed from ' || OLD.name END,
                    CASE WHEN NEW.control_url IS DISTINCT FROM OLD.control_url THEN 'control URL ' || NEW.control_url END,
                    CASE WHEN NEW.admin_token IS DISTINCT FROM OLD.admin_token THEN 'admin token replaced' END,
                    CASE WHEN NEW.viewer_token IS DISTINCT FROM OLD.viewer_token THEN 'viewer token replaced' END));
    ELSE
        INSERT INTO dlb.audit_log (who, agent, action, detail)
        VALUES (session_user, OLD.name, 'agent.remove', OLD.control_url);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS agents_audit ON dlb.agents;
CREATE TRIGGER agents_audit AFTER INSERT OR UPDATE OR DELETE ON dlb.agents
    FOR EACH ROW EXECUTE FUNCTION dlb.audit_agents();

REVOKE ALL ON FUNCTION dlb.scram_verifier_ok(text), dlb.audit(text, text, text),
    dlb.current_account(), dlb.register_account(text, text, text, text),
    dlb.account_for_change(text), dlb.keep_an_admin(text),
    dlb.set_account_role(text, text), dlb.set_account_disabled(text, boolean),
    dlb.reset_account_password(text, text), dlb.audit_agents() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dlb.current_account() TO dlb_viewer;
GRANT EXECUTE ON FUNCTION dlb.audit(text, text, text) TO dlb_operator;
GRANT EXECUTE ON FUNCTION dlb.register_account(text, text, text, text),
    dlb.set_account_role(text, text), dlb.set_account_disabled(text, boolean),
    dlb.reset_account_password(text, text) TO dlb_admin;
