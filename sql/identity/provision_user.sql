-- Just-in-time provisioning: the user row and its provider link, in one
-- statement. A concurrent first request may have linked the same external id
-- first: then nothing is returned and the caller reads the winner's row
-- (the orphan row this statement inserted is rolled back with it).
WITH new_user AS (
    INSERT INTO tenantkit.users (email, email_confirmed, first_name, last_name)
    VALUES (:email, :email_confirmed, :first_name, :last_name)
    RETURNING user_id
)
INSERT INTO tenantkit.user_identities (provider, external_id, user_id)
SELECT :provider, :external_id, user_id FROM new_user
ON CONFLICT (provider, external_id) DO NOTHING
RETURNING user_id
