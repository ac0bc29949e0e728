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
    'Here is what I can do:\n\n/start: start over\n/help: this list\n\nMore security tools (sessions, two-factor codes, API keys, privacy requests) arrive here as they are switched on.',
  'unhandled.message': "I didn't understand that. Send /help to see what I can do.",
  'unhandled.callback': 'This button is no longer active.',
  'errors.generic': 'Something went wrong on our side. Please try again in a moment.',
  'errors.unavailable': 'I can’t reach one of my services right now. Please try again in a minute.',
  'errors.domain': '{message}',
} as const;

export type MessageKey = keyof typeof en;
