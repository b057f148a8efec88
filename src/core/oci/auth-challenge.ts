/** Parses `WWW-Authenticate` challenges as registries send them (RFC 7235 auth-params). */

export interface AuthChallenge {
  scheme: 'bearer' | 'basic' | string;
  params: Record<string, string>;
}

export function parseAuthChallenges(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const challenges: AuthChallenge[] = [];
  let i = 0;
  let current: AuthChallenge | undefined;
  const skipSpace = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++;
  };
  while (i < text.length) {
    skipSpace();
    const tokenStart = i;
    while (i < text.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(text[i]!)) i++;
    const token = text.slice(tokenStart, i);
    if (token === '') {
      i++;
      continue;
    }
    while (text[i] === ' ') i++;
    if (text[i] === '=') {
      // An auth-param of the current challenge.
      i++;
      while (text[i] === ' ') i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        const valueStart = i;
        while (i < text.length && text[i] !== ',') i++;
        value = text.slice(valueStart, i).trim();
      }
      if (current) current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      challenges.push(current);
    }
  }
  return challenges;
}
