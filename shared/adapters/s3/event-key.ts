/** S3 event notifications carry object keys URL-encoded, with spaces as '+'. */
export const objectKeyOf = (eventKey: string) => decodeURIComponent(eventKey.replace(/\+/g, ' '));
