-- dlb console schema, part 3: what attacking the account functions of 0002 found, mended. 0002 is
-- released, so its functions are replaced here (CREATE OR REPLACE keeps their owner and grants)
-- rather than edited there.
--
-- 1. A string that only looked like a SCRAM verifier (keys that do not decode to 32 bytes, a salt
--    that is not base64) passed scram_verifier_ok; PostgreSQL cannot parse it as a SCRAM secret
--    and takes it as a plain-text password. The check now accepts exactly what PostgreSQL parses.
-- 2. Disabling set NOLOGIN only, which refuses new sessions: a disabled admin's open session kept
--    every right, down to enabling itself again. A disabled account is now also out of its group,
--    so it loses its rights at once; enabling puts it back. dlb.accounts.role still says which
--    group it returns to.
-- 3. The last-admin guard read the other admins without locking them: two admins demoting (or
--    disabling) each other at once both passed and no admin was left. Account changes now take
--    turns on a lock of dlb.accounts.
-- 4. "public" and "none" are reserved by PostgreSQL even quoted: registering them failed inside
--    CREATE ROLE instead of being listed with the other broken rules.
-- 5. dlb.audit let an operator write rows named like an admin's account changes (account.*) or
--    the agents trigger's (agent.*), without an agent, of any size.
--
-- The repeated pieces of 0002 (the audit row of an account change, the group move, the guard
-- condition) are one helper each here.

-- Longest detail dlb.audit takes: a control URL (2048, dlb.agents) with room for words around it.
CREATE OR REPLACE FUNCTION dlb.audit_detail_max() RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 4096 $$;

CREATE OR REPLACE FUNCTION dlb.scram_verifier_ok(p_verifier text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    -- SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> as PostgreSQL's
    -- parse_scram_secret reads it: iterations an int, the salt non-empty padded base64, each key
    -- the base64 of 32 bytes (SHA-256). Anything else CREATE ROLE would take as plain text.
    SELECT p_verifier ~ ('^SCRAM-SHA-256\$[1-9][0-9]{0,9}:'
                         '(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)'
                         '\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$')
       AND substring(p_verifier FROM '^SCRAM-SHA-256\$([0-9]{1,10}):')::bigint <= 2147483647
$$;

-- The audit row of an account change, written as the caller (session_user, never current_user,
-- which inside these functions is their owner).
CREATE OR REPLACE FUNCTION dlb.audit_account(p_action text, p_detail text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO dlb.audit_log (who, action, detail) VALUES (session_user, p_action, p_detail)
$$;

-- Moves a login role between the dlb groups; NULL on either side is "no group" (disabled).
CREATE OR REPLACE FUNCTION dlb.move_to_group(p_username text, p_from text, p_to text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_from IS NOT NULL THEN
        EXECUTE format('REVOKE %I FROM %I', 'dlb_' || p_from, p_username);
    END IF;
    IF p_to IS NOT NULL THEN
        EXECUTE format('GRANT %I TO %I', 'dlb_' || p_to, p_username);
    END IF;
END
$$;

-- The account row of a dlb account, locked for the change; refuses any other role, so these
-- functions can never touch postgres or another application's roles. Every account change takes
-- the table lock first (it conflicts with itself, not with readers), so changes take turns and
-- the last-admin guard sees the others' committed state.
CREATE OR REPLACE FUNCTION dlb.account_for_change(p_username text) RETURNS dlb.accounts
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acc dlb.accounts;
BEGIN
    LOCK TABLE dlb.accounts IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO acc FROM dlb.accounts WHERE username = p_username;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = format('%s is not a dlb account; choose one from the Accounts page', coalesce(p_username, 'NULL'));
    END IF;
    RETURN acc;
END
$$;

-- acc is about to stop being an enabled admin: refuse if it is the last one, which would lock
-- everyone out of account management. Callers hold the lock of account_for_change.
CREATE OR REPLACE FUNCTION dlb.keep_an_admin(acc dlb.accounts) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF acc.role = 'admin' AND NOT acc.disabled
       AND NOT EXISTS (SELECT 1 FROM dlb.accounts
                       WHERE role = 'admin' AND NOT disabled AND username <> acc.username) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s is the last enabled admin; make another admin first', acc.username);
    END IF;
END
$$;
DROP FUNCTION IF EXISTS dlb.keep_an_admin(text);

CREATE OR REPLACE FUNCTION dlb.register_account(p_username text, p_email text, p_verifier text,
                                                p_role text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text[] := '{}';
BEGIN
    -- Taken names and e-mails are read under the lock, so two registrations cannot both pass.
    LOCK TABLE dlb.accounts IN SHARE ROW EXCLUSIVE MODE;
    -- Every broken rule is collected, so the caller learns all of them in one answer.
    IF p_username IS NULL OR NOT dlb.username_ok(p_username) THEN
        problems := problems || 'username must be 3 to 32 characters from a-z, 0-9 and _'::text;
    ELSIF p_username LIKE 'pg\_%' OR p_username LIKE 'dlb\_%' THEN
        problems := problems || 'usernames starting with pg_ or dlb_ are reserved'::text;
    ELSIF p_username IN ('public', 'none') THEN
        problems := problems || format('username %s is reserved by PostgreSQL', p_username);
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
    PERFORM dlb.audit_account('account.register', format('%s <%s> as %s', p_username, p_email, p_role));
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
    PERFORM dlb.keep_an_admin(acc);
    -- A disabled account is in no group; it joins the new one when it is enabled.
    IF NOT acc.disabled THEN
        PERFORM dlb.move_to_group(p_username, acc.role, p_role);
    END IF;
    UPDATE dlb.accounts SET role = p_role WHERE username = p_username;
    PERFORM dlb.audit_account('account.role', format('%s: %s -> %s', p_username, acc.role, p_role));
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
    IF p_disabled THEN
        PERFORM dlb.keep_an_admin(acc);
        -- NOLOGIN refuses new sessions; leaving the group takes the rights of open ones.
        EXECUTE format('ALTER ROLE %I NOLOGIN', p_username);
        PERFORM dlb.move_to_group(p_username, acc.role, NULL);
    ELSE
        PERFORM dlb.move_to_group(p_username, NULL, acc.role);
        EXECUTE format('ALTER ROLE %I LOGIN', p_username);
    END IF;
    UPDATE dlb.accounts SET disabled = p_disabled WHERE username = p_username;
    PERFORM dlb.audit_account(CASE WHEN p_disabled THEN 'account.disable' ELSE 'account.enable' END, p_username);
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
    PERFORM dlb.audit_account('account.password', acc.username);
END
$$;

CREATE OR REPLACE FUNCTION dlb.audit(p_agent text, p_action text, p_detail text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The agent name has dlb.agents.name's limits.
    IF p_agent IS NULL OR length(p_agent) NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'audit needs the agent name (1 to 64 characters) the action was taken on';
    END IF;
    IF p_action IS NULL OR p_action !~ '^[a-z_]{1,32}(\.[a-z_]{1,32}){0,3}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'audit action must be dotted lower-case words, like replica.add';
    END IF;
    IF p_action ~ '^(account|agent)(\.|$)' THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('audit actions account.* and agent.* are reserved for the account functions '
                             'and the agents trigger; name %s after what was done to the agent, like replica.add',
                             p_action);
    END IF;
    IF length(p_detail) > dlb.audit_detail_max() THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('audit detail must be at most %s characters; shorten it', dlb.audit_detail_max());
    END IF;
    INSERT INTO dlb.audit_log (who, agent, action, detail)
    VALUES (session_user, p_agent, p_action, coalesce(p_detail, ''));
END
$$;

-- Accounts disabled before this migration leave their group now (see 2).
DO $$
DECLARE
    acc dlb.accounts;
BEGIN
    FOR acc IN SELECT * FROM dlb.accounts WHERE disabled LOOP
        IF pg_catalog.pg_has_role(acc.username, 'dlb_' || acc.role, 'MEMBER') THEN
            PERFORM dlb.move_to_group(acc.username, acc.role, NULL);
        END IF;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION dlb.audit_detail_max(), dlb.audit_account(text, text),
    dlb.move_to_group(text, text, text), dlb.keep_an_admin(dlb.accounts) FROM PUBLIC;
