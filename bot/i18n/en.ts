/** English: the reference locale. Every other locale must have exactly these keys (a test checks). */
export const en = {
  'commands.start': 'Start and see what this bot does',
  'commands.help': 'What I can do',
  'start.welcome':
    'Hi {name}! I keep your Telegram account and community safe: sign-in protection, two-factor codes, privacy controls and alerts.\n\nTap a button below, or send /help.',
  'start.welcome_back': 'Welcome back, {name}. Send /help to see what I can do.',
  'start.open_app': 'Open security settings',
  'start.help_button': 'Help',
  'help.text':
    'Here is what I can do:\n\n/start: start over\n/sessions: see and end your signed-in sessions\n/apikeys: keys for your scripts and integrations\n/help: this list\n\nTwo-factor codes and privacy requests arrive here as they are switched on.',
  'unhandled.message': "I didn't understand that. Send /help to see what I can do.",
  'unhandled.callback': 'This button is no longer active.',
  'errors.generic': 'Something went wrong on our side. Please try again in a moment.',
  'errors.unavailable': 'I can’t reach one of my services right now. Please try again in a minute.',
  'errors.domain': '{message}',
  'commands.sessions': 'See and end your signed-in sessions',
  'sessions.none': 'You are not signed in anywhere. Open the app from /start to sign in.',
  'sessions.header': 'Your signed-in sessions ({count}):',
  'sessions.item': '{index}. {client}: signed in {created}, last active {seen}{ip}',
  'sessions.end_one': 'End {index}',
  'sessions.end_all': 'End all sessions',
  'sessions.ended_one': 'Session ended.',
  'sessions.ended_all': 'Ended {count} session(s).',
  'sessions.gone': 'That session has already ended.',
  'sessions.not_allowed': 'Your role can see your sessions but not end them. Ask an admin for help.',
  'notify.refresh_reuse':
    '⚠️ An old sign-in token was used, which can mean someone copied it. We signed that session out to be safe. If this was not you, review your sessions.',
  'notify.review_sessions': 'Review sessions',
  'notify.role_changed': 'Your role is now: {role}.',
  'notify.api_key_created':
    '🔑 A new API key was created on your account. If this was not you, revoke it with /apikeys.',
  'notify.api_key_rotated': '🔑 One of your API keys was rotated; the old one stops working in 24 hours.',
  'notify.api_key_revoked': '🔑 One of your API keys was revoked.',
  'commands.apikeys': 'API keys for your own scripts and integrations',
  'apikeys.title': '🔑 <b>Your API keys</b>',
  'apikeys.empty':
    'You have no API keys yet. A key lets your own scripts use the API, with only the permissions you give it. Send it as <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key: &lt;key&gt;</code>.',
  'apikeys.item': '{n}. <b>{name}</b> <code>{prefix}</code>\n{scopes} · expires {expires} · last used {lastUsed}',
  'apikeys.item_rotating':
    '{n}. <b>{name}</b> <code>{prefix}</code> (replaced: works until {until})\n{scopes} · last used {lastUsed}',
  'apikeys.item_expired': '{n}. <b>{name}</b> <code>{prefix}</code> (expired {expires})',
  'apikeys.never_used': 'never',
  'apikeys.scopes_full': 'full access',
  'apikeys.scopes_read_only': 'read-only',
  'apikeys.scopes_none': 'no permissions (your role no longer allows its scopes)',
  'apikeys.read_only_role': 'Your role can see API keys but not create or change them.',
  'apikeys.new_button': '➕ New key',
  'apikeys.new_read_only_button': '➕ New read-only key',
  'apikeys.rotate_button': '🔄 Rotate {n}',
  'apikeys.revoke_button': '🗑 Revoke {n}',
  'apikeys.list_button': '🔑 My API keys',
  'apikeys.default_name': 'Key {n}',
  'apikeys.created':
    '🔑 <b>New API key “{name}”</b> ({scopes}, expires {expires})\n\n<code>{key}</code>\n\n⚠️ Copy it now and keep it somewhere safe: this is the only time I can show it. Then delete this message.\nSend it as <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key: &lt;key&gt;</code>.',
  'apikeys.rotated':
    '🔄 <b>New key for “{name}”</b> (expires {expires})\n\n<code>{key}</code>\n\n⚠️ Copy it now and keep it somewhere safe: this is the only time I can show it. Then delete this message.\nThe old key <code>{oldPrefix}</code> keeps working until {until}, so you can switch without downtime.',
  'apikeys.revoke_confirm':
    'Revoke <b>{name}</b> <code>{prefix}</code>? Anything using it stops working at once. This cannot be undone.',
  'apikeys.revoke_yes': '🗑 Yes, revoke it',
  'apikeys.revoke_cancel': 'Cancel',
  'apikeys.revoked': '🗑 Revoked <b>{name}</b> <code>{prefix}</code>. It no longer works.',
  'apikeys.revoke_cancelled': 'Nothing changed: the key still works.',
  'apikeys.gone': 'That key no longer exists. Send /apikeys to see your keys.',
  'apikeys.no_account': 'Send /start first, then /apikeys.',
  'apikeys.not_allowed': 'Your account cannot manage API keys.',
} as const;

export type MessageKey = keyof typeof en;
